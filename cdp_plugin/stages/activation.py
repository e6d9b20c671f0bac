"""Built-in activation gate: may a subject be contacted on a channel about a topic now?

The checks run in this order, and the first that fails gives the reason
(:mod:`cdp_plugin.consent.gate` holds them):

1. the purpose the message serves: defined, and for a ``consent`` purpose
   granted in the ledger, recently enough and under a notice still in force
   (``rules/purposes.yaml``, ``consent:``); a ``legitimate_interest`` purpose
   is refused only by a denial;
2. the channel: defined, and opted in to;
3. the topic, if the message has one: defined, and subscribed to;
4. the channel's frequency caps, over the subject's recorded sends: the
   rules' cap and the cap the subject chose in the preference center, each
   of which must have room (so the stricter binds);
5. the quiet hours, in the subject's last seen time zone.

Messages for a ``contract`` purpose (order confirmations, password resets,
two-factor codes) are not marketing: they skip the consent, channel opt-in,
topic subscription, frequency cap and quiet hours checks and are not counted
against caps, but their channel and topic must still be defined. An allowed
marketing request with ``record`` set is recorded as a send, in the caller's
transaction, so it counts against the cap.
"""

from __future__ import annotations

from cdp_plugin.consent.gate import (
    cap_window_start,
    caps_refusal,
    channel_refusal,
    purpose_refusal,
    quiet_hours_end,
    subject_cap,
    subject_time_zone,
    topic_refusal,
)
from cdp_plugin.markers import hookimpl
from cdp_plugin.runtime import Runtime
from cdp_plugin.stages.consent import ledger_statements
from cdp_plugin.types import ContactDecision, ContactRequest


@hookimpl(trylast=True)
def cdp_check_contact(request: ContactRequest, runtime: Runtime) -> ContactDecision:
    """Answer by the ledger, the caps and the quiet hours; record the send if allowed.

    Raises ``ValueError`` for a naive ``request.at`` (the host answers no).
    """
    at = request.at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("request.at must be timezone-aware")
    rules, store, key = runtime.rules.purposes, runtime.store, request.subject_key
    purpose = rules.purposes.get(request.purpose)
    preferences_apply = purpose is not None and purpose.legal_basis != "contract"
    ledger = store.current_consent(key) if preferences_apply else {}
    valid = ledger_statements(runtime, key, at, rules.consent)[0] if preferences_apply else {}
    refusal = (
        purpose_refusal(purpose, ledger.get(("purpose", request.purpose)),
                        request.purpose in valid)
        or channel_refusal(request.channel, rules, ledger, opt_in_needed=preferences_apply)
        or topic_refusal(request.topic, rules, ledger, subscription_needed=preferences_apply)
    )
    if refusal is not None:
        return ContactDecision(False, refusal)
    if not preferences_apply:
        return ContactDecision(True, "ok")
    caps = [cap for cap in (rules.frequency_caps.get(request.channel),
                            subject_cap(store.get_preferences(key), request.channel))
            if cap is not None]
    if caps:
        since = min(cap_window_start(cap, at) for cap in caps)
        capped = caps_refusal(caps, store.sends_since(key, request.channel, since), at)
        if capped is not None:
            return capped
    quiet = rules.quiet_hours
    if quiet is not None and quiet.applies_to(request.channel):
        zone = subject_time_zone(store.get_profile(key), quiet)
        until = quiet_hours_end(quiet, at, zone)
        if until is not None:
            return ContactDecision(False, "quiet_hours", until)
    if request.record:
        store.record_send(key, request.channel, request.topic, at)
    return ContactDecision(True, "ok")
