"""Built-in consent stage: resolve consent per purpose, decide, record preference updates.

Resolution, per purpose the event serves (``rules/purposes.yaml``):

* ``contract`` purposes are granted by their legal basis;
* otherwise the latest statement wins by capture time, between the ledger's
  current state and the event's own consent object (Segment's
  ``context.consent.categoryPreferences``); at equal times the ledger beats
  the in-event signal and a denial beats a grant;
* with no statement, ``legitimate_interest`` purposes are granted and
  ``consent`` purposes are unknown, which fails closed.

Decision: allowed for the granted purposes if at least one consent purpose
the event serves is granted (or it serves none); quarantined while any of
them is still unknown; dropped when all are denied.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from cdp_plugin.markers import hookimpl
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

IN_EVENT = "in_event"
_STATE = {True: ConsentState.GRANTED, False: ConsentState.DENIED}


def segment_signal(event: Event, categories: Mapping[str, frozenset[str]]) -> dict[str, bool]:
    """Purposes stated by the event's Segment consent object; a denial by any
    category mapped to a purpose denies it."""
    context = event.payload.get("context")
    consent = context.get("consent") if isinstance(context, Mapping) else None
    prefs = consent.get("categoryPreferences") if isinstance(consent, Mapping) else None
    if not isinstance(prefs, Mapping):
        return {}
    stated: dict[str, bool] = {}
    for category, value in prefs.items():
        if not isinstance(value, bool):
            continue
        for purpose in categories.get(category, ()):
            stated[purpose] = stated.get(purpose, True) and value
    return stated


@hookimpl
def cdp_resolve_consent(event: Event, runtime: Runtime) -> ConsentView:
    """The ledger plus in-event signals, per purpose the event serves."""
    rules = runtime.rules.purposes
    needed = rules.purposes_for(event.type, event.name)
    ledger = runtime.store.current_consent(event.subject_key)
    in_event = segment_signal(event, rules.segment_categories)
    states: dict[str, ConsentState] = {}
    sources: dict[str, str] = {}
    for purpose in needed:
        basis = rules.purposes[purpose].legal_basis
        if basis == "contract":
            states[purpose], sources[purpose] = ConsentState.GRANTED, "legal_basis"
            continue
        # (captured_at, ledger beats in-event, denial beats grant) orders the statements.
        statements: list[tuple[datetime, int, int, bool, str]] = []
        recorded = ledger.get(("purpose", purpose))
        if recorded is not None:
            statements.append((recorded.captured_at, 1, int(not recorded.granted),
                               recorded.granted, recorded.source))
        if purpose in in_event:
            granted = in_event[purpose]
            statements.append((event.timestamp, 0, int(not granted), granted, IN_EVENT))
        if statements:
            *_, granted, source = max(statements)
            states[purpose], sources[purpose] = _STATE[granted], source
        elif basis == "legitimate_interest":
            states[purpose], sources[purpose] = ConsentState.GRANTED, "legal_basis"
    return ConsentView(event.subject_key, states, sources, jurisdiction_of(event, runtime))


def jurisdiction_of(event: Event, runtime: Runtime) -> str:
    """The regime for the event's ``context.location`` (the strictest when unknown)."""
    location = event.payload.get("context")
    location = location.get("location") if isinstance(location, Mapping) else None
    country = region = None
    if isinstance(location, Mapping):
        country = location.get("country") if isinstance(location.get("country"), str) else None
        region = location.get("region") if isinstance(location.get("region"), str) else None
    return runtime.rules.jurisdictions.resolve(country, region).name


@hookimpl(trylast=True)
def cdp_decide(event: Event, consent: ConsentView, runtime: Runtime) -> Decision:
    """Allow, quarantine or drop by the consent of the purposes the event serves."""
    rules = runtime.rules.purposes
    needed = rules.purposes_for(event.type, event.name)
    granted = consent.granted & needed
    by_consent = {p for p in needed if rules.purposes[p].legal_basis == "consent"}
    if not by_consent:
        return Decision.allow(granted, "basis.non_consent") if granted else Decision.drop(
            "consent.denied")
    if granted & by_consent:
        return Decision.allow(granted, "consent.granted")
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
    store = runtime.store
    before = store.current_consent(subject_key)
    store.append_consent(ConsentRecord(
        subject_key=subject_key, source=update.source, captured_at=update.captured_at,
        received_at=datetime.now(UTC), purposes=dict(update.purposes),
        channels=dict(update.channels), notice_version=update.notice_version,
        proof=dict(update.proof),
    ))
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
