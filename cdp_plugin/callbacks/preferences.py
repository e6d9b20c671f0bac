"""Applying validated preference updates: ledger, double opt-in, caps, withdrawal notices.

A batch is applied atomically: every update, the webhook id that carried
them, the double opt-in requests, the frequency caps and the suppression
notices commit in one transaction, or none does (then the sender's retry
with the same webhook id is applied afresh). This was chosen over
per-item results because a preference center sends one customer's
save as one batch: half of it applied would be a state the customer never
chose. Observers hear of the changes only after the commit.

Ordering is the ledger's: an update captured before the subject's current
state is kept in the history and does not change that state. Frequency caps
likewise keep, per channel, the latest captured (compared as instants,
whatever UTC offset each was sent in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cdp_plugin.audit.records import FrequencyCapsStored, PreferencesReceived
from cdp_plugin.callbacks.doi import IssuedToken, cancel_requests, request_confirmation
from cdp_plugin.callbacks.outbox import notice_key, queue_notice
from cdp_plugin.callbacks.schemas import PreferenceUpdate
from cdp_plugin.callbacks.settings import CallbackSettings
from cdp_plugin.callbacks.work import unit_of_work
from cdp_plugin.consent.gate import SUBJECT_CAPS
from cdp_plugin.errors import CdpPluginError
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.stages.consent import RESIDENCY
from cdp_plugin.storage.base import CurrentConsent
from cdp_plugin.types import ConsentChange, ConsentResult, ConsentUpdate, Outcome


class ReplayedWebhook(CdpPluginError):
    """A webhook id already used for a different request; nothing was applied."""

    def __init__(self) -> None:
        super().__init__("webhook id already used for another request")


def claim_webhook(pipeline: Pipeline, webhook: tuple[str, str] | None, now: datetime, *,
                  duplicate_ok: bool = True) -> bool:
    """Store a request's ``(webhook id, digest)`` inside the caller's unit of
    work, so the id is spent only if the request's effects commit.

    True if the id is new (or there is none); False for a duplicate (the
    same id with the same digest) when ``duplicate_ok``. Raises
    :class:`ReplayedWebhook` for the id with another digest, or a
    duplicate that is not ok.
    """
    if webhook is None:
        return True
    first = pipeline.runtime.store.remember_webhook(webhook[0], webhook[1], now)
    if first is None:
        return True
    if first == webhook[1] and duplicate_ok:
        return False
    raise ReplayedWebhook()


@dataclass(frozen=True, slots=True)
class AppliedUpdate:
    """What one update did: the purposes whose state changed, the held events
    it settled, the notices it queued and the confirmations it asks for."""

    subject_key: str
    changes: tuple[ConsentChange, ...] = ()
    settled: tuple[Outcome, ...] = ()
    notices: tuple[str, ...] = ()
    confirmations: tuple[IssuedToken, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchResult:
    """``duplicate`` when the webhook id was seen with this very request before:
    then nothing was applied and ``results`` is empty."""

    duplicate: bool = False
    results: tuple[AppliedUpdate, ...] = field(default_factory=tuple)


def apply_preferences(pipeline: Pipeline, settings: CallbackSettings,
                      updates: Sequence[PreferenceUpdate], now: datetime, *,
                      webhook: tuple[str, str] | None = None) -> BatchResult:
    """Apply ``updates`` in order, all in one unit of work.

    ``webhook`` is the request's ``(webhook id, digest)``: an id seen before
    with the same digest is a duplicate (acknowledged, not applied again);
    with another digest, :class:`ReplayedWebhook` is raised. Raises
    StorageError, AuditError or PluginError with nothing applied.
    """
    with unit_of_work(pipeline):
        if not claim_webhook(pipeline, webhook, now):
            return BatchResult(duplicate=True)
        results = tuple(_apply(pipeline, settings, update, now) for update in updates)
        pipeline.hooks.audit(PreferencesReceived(webhook[0] if webhook else None,
                                                 tuple(r.subject_key for r in results)))
    return BatchResult(results=results)


def _apply(pipeline: Pipeline, settings: CallbackSettings, update: PreferenceUpdate,
           now: datetime) -> AppliedUpdate:
    runtime = pipeline.runtime
    consent = update.consent
    subject_key = runtime.pseudonymizer.subject(consent.subject_id)
    before = runtime.store.current_consent(subject_key)
    regime = _regime(pipeline, subject_key, consent)
    optin = settings.double_opt_in
    needs_confirmation = [
        channel for channel, granted in consent.channels.items()
        if granted and optin.required(channel, regime)
        and _would_grant(before, channel, consent.captured_at)]
    for channel, granted in consent.channels.items():
        if not granted:
            cancel_requests(pipeline, subject_key, channel, consent.captured_at, now)
    consent = replace(consent, channels={c: g for c, g in consent.channels.items()
                                         if c not in needs_confirmation})
    result = ConsentResult()
    if consent.purposes or consent.channels or consent.topics or consent.residency:
        result = pipeline.record_consent(consent)
    confirmations = tuple(request_confirmation(pipeline, optin, subject_key, channel,
                                               consent, now)
                          for channel in needs_confirmation)
    if update.frequency_caps:
        _store_caps(pipeline, subject_key, update)
    after = runtime.store.current_consent(subject_key)
    notices = _queue_withdrawals(pipeline, settings, consent.subject_id, subject_key,
                                 before, after, now)
    return AppliedUpdate(subject_key, result.changes, result.released, notices, confirmations)


def _would_grant(state: Mapping[tuple[str, str], CurrentConsent], channel: str,
                 captured_at: datetime) -> bool:
    """Whether a grant captured at ``captured_at`` would newly grant the channel:
    not granted now, and not older than the current state (a stale grant only
    goes to the history, so it must not ask for confirmation)."""
    current = state.get(("channel", channel))
    return current is None or (not current.granted and captured_at >= current.captured_at)


def _regime(pipeline: Pipeline, subject_key: str, update: ConsentUpdate) -> str:
    """The subject's privacy regime: the update's residency, else the one
    recorded before, else the rules' default (the strictest)."""
    residency = update.residency
    if residency is None:
        recorded = (pipeline.runtime.store.get_preferences(subject_key) or {}).get(RESIDENCY)
        residency = recorded if isinstance(recorded, str) else None
    country = region = None
    if residency:
        country, _, rest = residency.upper().partition("-")
        region = residency.upper() if rest else None
    return pipeline.runtime.rules.jurisdictions.resolve(country, region).name


def _held_since(held: Any) -> datetime:
    """When a stored cap was captured, as an instant (text in any UTC offset);
    an unreadable one counts as older than any update."""
    text = held.get("captured_at") if isinstance(held, Mapping) else None
    try:
        at = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        return datetime.min.replace(tzinfo=UTC)
    return at


def _store_caps(pipeline: Pipeline, subject_key: str, update: PreferenceUpdate) -> None:
    """Keep each channel's cap from the latest update that set it."""
    store = pipeline.runtime.store
    captured = update.consent.captured_at
    preferences = store.get_preferences(subject_key) or {}
    caps = preferences.setdefault(SUBJECT_CAPS, {})
    changed = False
    for channel, cap in update.frequency_caps.items():
        held = caps.get(channel)
        if held is None or _held_since(held) <= captured:
            caps[channel] = {"max": cap.max, "per_days": cap.per_days,
                             "captured_at": captured.astimezone(UTC).isoformat()}
            changed = True
    if changed:
        store.put_preferences(subject_key, preferences, captured)
        pipeline.hooks.audit(FrequencyCapsStored(subject_key,
                                                 tuple(sorted(update.frequency_caps))))


def _queue_withdrawals(pipeline: Pipeline, settings: CallbackSettings, subject_id: str,
                       subject_key: str, before: Mapping[tuple[str, str], CurrentConsent],
                       after: Mapping[tuple[str, str], CurrentConsent],
                       now: datetime) -> tuple[str, ...]:
    """Queue a suppression notice for each destination concerned by each
    purpose, channel or topic whose current state became denied."""
    if not settings.destinations:
        return ()
    served = pipeline.runtime.rules.purposes.destinations
    reference = pipeline.runtime.pseudonymizer.field(subject_id)
    queued = []
    for (scope, name), state in sorted(after.items()):
        previous = before.get((scope, name))
        if state.granted or (previous is not None and not previous.granted):
            continue
        for destination in sorted(settings.destinations.values(), key=lambda d: d.name):
            concerned = (name in served.get(destination.name, frozenset()) if scope == "purpose"
                         else name in (destination.channels if scope == "channel"
                                       else destination.topics))
            if not concerned:
                continue
            key = notice_key("suppression", destination.name, subject_key, scope, name,
                             str(state.seq))
            payload = {"type": "suppression", "subject": reference, "scope": scope,
                       "name": name, "captured_at": state.captured_at.isoformat()}
            if queue_notice(pipeline, destination.name, "suppression", subject_key, payload,
                            key, now):
                queued.append(key)
    return tuple(queued)
