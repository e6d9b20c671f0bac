"""Built-in consent stage: resolve consent per purpose, decide, record preference updates.

Resolution, per purpose the event serves (``rules/purposes.yaml``):

* ``contract`` purposes are granted by their legal basis;
* otherwise the latest statement wins (:mod:`cdp_plugin.consent.statements`)
  among the ledger's current state and the event's own signals: Segment and
  RudderStack consent objects, Google Consent Mode, and Global Privacy
  Control where the jurisdiction honours it;
* ledger states older than the policy's maximum age, or given under a
  superseded notice, are ignored (the subject is due for re-consent);
* when the event links an anonymous id to a user id (identify with both ids,
  alias), both ledgers count, merged by the configured policy (by default
  the most restrictive);
* with no statement, ``legitimate_interest`` purposes are granted, and
  ``consent`` purposes are granted in opt-out jurisdictions and unknown in
  opt-in ones. Unknown fails closed.

Time: a client's clock is untrusted. An in-event statement counts as made at
the event's time but never later than its receipt, and it beats a ledger
statement only when more than :data:`IN_EVENT_SKEW` later; the ledger's
expiry is judged at the event's time capped at receipt plus the skew.

Decision: allowed for the granted purposes if at least one consent purpose
the event serves is granted (or it serves none); dropped when none is
granted and the event's own consent object denied what it speaks for (a
reject-all), or when all are denied; otherwise quarantined while any is
still unknown.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cdp_plugin.consent.signals import in_event_statements, unmapped_categories
from cdp_plugin.consent.statements import (
    EXPLICIT,
    Statement,
    latest,
    most_restrictive,
    state_of,
)
from cdp_plugin.events import is_object, linked_ids
from cdp_plugin.markers import hookimpl
from cdp_plugin.rules.model import ConsentPolicy, Jurisdiction
from cdp_plugin.runtime import Runtime
from cdp_plugin.storage.base import ConsentRecord
from cdp_plugin.types import (
    ConsentChange,
    ConsentState,
    ConsentUpdate,
    ConsentView,
    Decision,
    Event,
)

_STATE = {True: ConsentState.GRANTED, False: ConsentState.DENIED}

REJECT_ALL_SOURCES = frozenset({"in_event", "consent_mode", "tcf"})
"""Sources of a banner's whole answer: a denial from one, with nothing granted,
drops the event. GPC and US opt-outs speak only for advertising, and a
preference-center denial of one purpose leaves the others to be asked, so
those still hold the event while other purposes are unknown."""

IN_EVENT_SKEW = timedelta(minutes=5)
"""How far apart a client clock and ours may be: an in-event statement must be
more than this later than a ledger statement to win over it, and an event's
time counts no later than this past receipt for the ledger's expiry. The same
tolerance preference updates get (``callbacks.schemas.FUTURE_TOLERANCE``)."""


RESIDENCY = "residency"
"""Preferences key (:meth:`Store.get_preferences`) holding the residency recorded
from the preference center."""


def jurisdiction_for(event: Event, runtime: Runtime) -> Jurisdiction:
    """The regime for the event's ``context.location``, else the subject's
    recorded residency, else the strictest (the rules' default)."""
    context = event.payload.get("context")
    location = context.get("location") if is_object(context) else None
    country = region = None
    if is_object(location):
        country = location.get("country") if isinstance(location.get("country"), str) else None
        region = location.get("region") if isinstance(location.get("region"), str) else None
    if country is None and region is None:
        residency = (runtime.store.get_preferences(event.subject_key) or {}).get(RESIDENCY)
        if isinstance(residency, str):
            country, _, rest = residency.partition("-")
            region = residency if rest else None
    return runtime.rules.jurisdictions.resolve(country, region)


def ledger_statements(runtime: Runtime, subject_key: str, at: datetime,
                      policy: ConsentPolicy) -> tuple[dict[str, Statement], set[str]]:
    """The subject's valid ledger statements per purpose, and the purposes
    whose state has expired or was given under a superseded notice."""
    try:
        oldest = at - timedelta(days=policy.max_age_days)
    except OverflowError:  # an event dated in the first year of the calendar
        oldest = datetime.min.replace(tzinfo=UTC)
    valid: dict[str, Statement] = {}
    stale: set[str] = set()
    for (scope, name), state in runtime.store.current_consent(subject_key).items():
        if scope != "purpose":
            continue
        if state.captured_at < oldest or state.notice_version in policy.superseded_notices:
            stale.add(name)
        else:
            valid[name] = Statement(name, state.granted, state.captured_at, state.source,
                                    EXPLICIT)
    return valid, stale


def linked_subject_keys(event: Event, runtime: Runtime) -> list[str]:
    """Keys of other identities the event links to its subject."""
    return [runtime.pseudonymizer.subject(identity) for identity in linked_ids(event)]


@hookimpl
def cdp_resolve_consent(event: Event, runtime: Runtime) -> ConsentView:
    """The ledger plus in-event signals, per purpose the event serves."""
    rules = runtime.rules.purposes
    policy = rules.consent
    regime = jurisdiction_for(event, runtime)
    # A client's timestamp is untrusted: an in-event signal counts no later than its
    # receipt, and the ledger's expiry is judged no later than receipt plus the skew,
    # so a future date can neither outrank a withdrawal nor make the ledger look expired.
    received = datetime.now(UTC)
    limit = received
    at = min(event.timestamp, received + IN_EVENT_SKEW)
    ledger, stale = ledger_statements(runtime, event.subject_key, at, policy)
    for key in linked_subject_keys(event, runtime):
        other, other_stale = ledger_statements(runtime, key, at, policy)
        stale |= other_stale
        for purpose, statement in other.items():
            mine = ledger.get(purpose)
            merged = (most_restrictive(mine, statement) if policy.merge_policy ==
                      "most_restrictive" else latest(s for s in (mine, statement) if s))
            if merged is not None:
                ledger[purpose] = merged
    signals: dict[str, list[Statement]] = {}
    for statement in in_event_statements(event, rules, regime.honours_gpc):
        if statement.captured_at > limit:
            statement = replace(statement, captured_at=limit)
        signals.setdefault(statement.purpose, []).append(statement)
    states: dict[str, ConsentState] = {}
    sources: dict[str, str] = {}
    for purpose in rules.purposes_for(event.type, event.name):
        basis = rules.purposes[purpose].legal_basis
        winner = latest([*signals.get(purpose, ()), *([ledger[purpose]] if purpose in ledger
                                                      else ())], IN_EVENT_SKEW)
        if basis == "contract":
            states[purpose], sources[purpose] = ConsentState.GRANTED, "legal_basis"
        elif winner is not None:
            states[purpose], sources[purpose] = state_of(winner), winner.source
        elif basis == "legitimate_interest":
            states[purpose], sources[purpose] = ConsentState.GRANTED, "legal_basis"
        elif regime.model == "opt_out":
            states[purpose], sources[purpose] = ConsentState.GRANTED, "jurisdiction_default"
        elif purpose in stale:
            sources[purpose] = "expired"
    return ConsentView(event.subject_key, states, sources, regime.name,
                       unmapped_categories(event, rules))


UNMAPPED = "consent.unmapped:"
"""Reason prefix naming a consent category the rules do not map, added to
whatever the decision is."""


@hookimpl(trylast=True)
def cdp_decide(event: Event, consent: ConsentView, runtime: Runtime) -> Decision:
    """Allow, quarantine or drop by the consent of the purposes the event serves;
    every category the event carried that the rules do not map is named as a
    further ``consent.unmapped:<id>`` reason."""
    decision = _decide(event, consent, runtime)
    if not consent.unmapped:
        return decision
    return replace(decision, reasons=(*decision.reasons,
                                      *(UNMAPPED + name for name in consent.unmapped)))


def _decide(event: Event, consent: ConsentView, runtime: Runtime) -> Decision:
    rules = runtime.rules.purposes
    needed = rules.purposes_for(event.type, event.name)
    granted = consent.granted & needed
    by_consent = {p for p in needed if rules.purposes[p].legal_basis == "consent"}
    if not by_consent:
        return Decision.allow(granted, "basis.non_consent") if granted else Decision.drop(
            "consent.denied")
    if granted & by_consent:
        return Decision.allow(granted, "consent.granted")
    if any(consent.state(p) is ConsentState.DENIED
           and consent.sources.get(p) in REJECT_ALL_SOURCES for p in by_consent):
        # The event's own consent object granted nothing it speaks for (a CMP's
        # "reject all"): holding the raw event 24 hours for purposes the banner
        # never asked about would keep personal data the subject declined to share.
        return Decision.drop("consent.denied")
    if any(consent.state(p) is ConsentState.UNKNOWN for p in by_consent):
        return Decision.quarantine("consent.unknown")
    return Decision.drop("consent.denied")


@hookimpl
def cdp_record_consent(update: ConsentUpdate, subject_key: str,
                       runtime: Runtime) -> list[ConsentChange]:
    """Append the update to the ledger; return the purposes whose current state changed.

    Raises ``ValueError`` naming an unknown purpose or channel (nothing recorded).
    """
    rules = runtime.rules.purposes
    for purpose in update.purposes:
        if purpose not in rules.purposes:
            raise ValueError(f"unknown purpose {purpose!r}")
    for channel in update.channels:
        if channel not in rules.channels:
            raise ValueError(f"unknown channel {channel!r}")
    for topic in update.topics:
        if topic not in rules.topics:
            raise ValueError(f"unknown topic {topic!r}")
    store = runtime.store
    before = store.current_consent(subject_key)
    store.append_consent(ConsentRecord(
        subject_key=subject_key, source=update.source, captured_at=update.captured_at,
        received_at=datetime.now(UTC), purposes=dict(update.purposes),
        channels=dict(update.channels), topics=dict(update.topics),
        notice_version=update.notice_version,
        proof=dict(update.proof),
    ))
    if update.residency is not None:
        preferences = store.get_preferences(subject_key) or {}
        preferences[RESIDENCY] = update.residency.strip().upper()
        store.put_preferences(subject_key, preferences, update.captured_at)
    after = store.current_consent(subject_key)
    changes = []
    for key, now in after.items():
        scope, name = key
        previous = before.get(key)
        if scope != "purpose" or (previous is not None and previous.granted == now.granted):
            continue
        changes.append(ConsentChange(
            subject_key, name,
            ConsentState.UNKNOWN if previous is None else _STATE[previous.granted],
            _STATE[now.granted], now.source, now.captured_at,
        ))
    return changes
