"""The per-event decision path: validate, deduplicate, resolve consent, decide,
minimize, update segments, audit, attribute experiment conversions; and the
quarantine of events that wait for consent.

Only an event whose outcome is ``FORWARDED`` leaves, as the minimized
payload; a deciding or transforming hook that raises, or an ``ALLOW`` for a
purpose without consent, means the event is not forwarded. Every outcome is
audited before the call returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from cdp_plugin import json_read
from cdp_plugin.audit.records import (
    EventDecision,
    EventDuplicate,
    EventInvalid,
    QuarantinePurged,
    QuarantineReleased,
    SegmentMove,
)
from cdp_plugin.errors import InvalidEvent, PluginError
from cdp_plugin.events import decode_line, linked_ids, parse_event
from cdp_plugin.experiments.attribution import attribute_conversions
from cdp_plugin.forwarding import annotated
from cdp_plugin.minimization.pii_guard import redact
from cdp_plugin.storage import json_text
from cdp_plugin.types import (
    Action,
    AuditEntry,
    ConsentView,
    Decision,
    Event,
    IngestError,
    Outcome,
    SegmentChange,
    Status,
)
from cdp_plugin.unit_of_work import PipelineCore

RawEvent = Mapping[str, Any] | str | bytes
VALIDATION_PLUGIN = "cdp_plugin.validation"


class EventDecisions(PipelineCore):
    """Events through the hooks, one at a time or in batches, and held events
    settled again when consent becomes known."""

    def process(self, raw: RawEvent, headers: Mapping[str, str] | None = None) -> Outcome:
        """Run one event (a parsed mapping or a JSON line) through the pipeline."""
        return self.process_batch([raw], headers)[0]

    def process_batch(self, raws: Iterable[RawEvent],
                      headers: Mapping[str, str] | None = None) -> list[Outcome]:
        """Run events in order, in one store transaction; one outcome each.

        Raises :class:`AuditError` (nothing committed, nothing to forward) if
        the audit log cannot be written.
        """
        with self.unit_of_work():
            parsed = [self._parse(raw, headers) for raw in raws]
            keys = {id(event): self._message_key(event.message_id) for event in parsed
                    if isinstance(event, Event)}
            self._read_ahead([event for event in parsed if isinstance(event, Event)],
                             list(keys.values()))
            outcomes = [self._reject(event) if isinstance(event, InvalidEvent)
                        else self._process_one(event, keys[id(event)]) for event in parsed]
        return outcomes

    def _parse(self, raw: RawEvent, headers: Mapping[str, str] | None) -> Event | InvalidEvent:
        """The event, or why it is invalid (audited in its turn, by the caller)."""
        try:
            message: Mapping[str, Any]
            if isinstance(raw, bytes | str):
                message, decoded = decode_line(raw), True
            else:  # a mapping (anything else parse_event rejects as not an object)
                message, decoded = raw, False
            return parse_event(message, self.runtime.pseudonymizer.subject, headers,
                               checked_for_poison=decoded)
        except InvalidEvent as exc:
            # Without its traceback: kept, the traceback's frames would tie the
            # batch's events and outcomes into a cycle that only the cyclic
            # collector frees, so a long run's memory would grow between its passes.
            return exc.with_traceback(None)

    def _read_ahead(self, events: Sequence[Event], message_keys: Sequence[str]) -> None:
        """Tell the store which messages the batch will remember and whose consent
        and profiles it will read, so it can do each in one statement rather than
        one per event."""
        if not events:
            return
        store, subject = self.runtime.store, self.runtime.pseudonymizer.subject
        store.remember_messages_ahead(message_keys, self.clock())
        subjects = {event.subject_key for event in events}
        store.prefetch_profiles(subjects)
        store.prefetch_quarantine_counts(subjects)
        store.prefetch_consent(subjects | {subject(identity) for event in events
                                           for identity in linked_ids(event)})

    def _process_one(self, event: Event, message_key: str) -> Outcome:
        store = self.runtime.store
        if not store.remember_message(message_key, self.clock()):
            self.hooks.audit(EventDuplicate(message_key, event.subject_key))
            return Outcome(Status.DUPLICATE, event.message_id, ("duplicate",))
        for identity in linked_ids(event):
            # Kept so an erasure of either identity reaches what the other holds.
            store.link_identities(event.subject_key, self.runtime.pseudonymizer.subject(identity),
                                  self.clock())
        try:
            outcome = self._decide_and_apply(event, message_key)
            assert outcome is not None  # only held events can stay undecided
            return outcome
        except PluginError as exc:
            store.forget_message(message_key)  # a retry after the fix is no replay
            return self._plugin_failed(event, exc, message_key)

    def _decide_and_apply(self, event: Event, message_key: str,
                          held: bool = False) -> Outcome | None:
        """Decide and act on one event (``message_key`` its keyed ``messageId``); for an
        event already ``held`` in quarantine, None means it stays there."""
        consent = self.hooks.resolve_consent(event) or ConsentView(event.subject_key)
        decision = self.hooks.decide(event, consent) or Decision.drop("no_decision")
        if decision.action is Action.ALLOW and (
                not decision.purposes or not decision.purposes <= consent.granted):
            decision = Decision.drop("consent.not_granted")
        if decision.action is Action.QUARANTINE:
            if held:
                return None
            decision = self._quarantine(event, message_key, decision)
        if decision.action is not Action.ALLOW:
            entry = self._audit_decision(event, message_key, decision, consent)
            status = Status.QUARANTINED if decision.action is Action.QUARANTINE else Status.DROPPED
            return Outcome(status, event.message_id, decision.reasons,
                           audit_index=entry.index)
        minimized = self.hooks.minimize_event(event, decision)
        if minimized is None:
            decision = Decision.drop("no_minimizer")
            entry = self._audit_decision(event, message_key, decision, consent)
            return Outcome(Status.DROPPED, event.message_id, decision.reasons,
                           audit_index=entry.index)
        changes = self.hooks.update_segments(event, decision, consent)
        summary, chosen_by = minimized.summary(), minimized.rules()
        destinations = self._destinations(decision.purposes)
        entry = self._audit_decision(event, message_key, decision, consent, summary, changes,
                                     destinations, chosen_by)
        attribute_conversions(self.hooks, event, decision, message_key, self.clock())
        for change in changes:
            self.hooks.announce_segment_changed(change)
        deliveries = {name: annotated(payload, event.payload, consent)
                      for name, payload in minimized.deliveries.items()}
        return Outcome(
            Status.FORWARDED, event.message_id, decision.reasons,
            annotated(minimized.payload, event.payload, consent), summary, changes,
            entry.index, decision.purposes, destinations, deliveries, chosen_by,
            subject_key=event.subject_key,
        )

    def _settle_quarantine(self, subject_key: str) -> list[Outcome]:
        """Decide each held event of the subject again, in original order;
        release or purge those that no longer wait for consent."""
        store = self.runtime.store
        settled = []
        for held in store.quarantine_list(subject_key):
            stored = json_read.loads(held.payload)
            event = parse_event(stored["event"], self.runtime.pseudonymizer.subject,
                                stored["headers"], checked_for_poison=True)  # when held
            try:
                outcome = self._decide_and_apply(event, held.message_id, held=True)
            except PluginError as exc:
                self._plugin_failed(event, exc, held.message_id)  # stays held; the error is audited
                continue
            if outcome is None:
                continue
            store.quarantine_remove([held.id])
            released = outcome.status is Status.FORWARDED
            settle = QuarantineReleased if released else QuarantinePurged
            self.hooks.audit(settle(held.message_id, subject_key, tuple(outcome.reasons)))
            if released:
                self.hooks.announce_quarantine_released(outcome)
            settled.append(outcome)
        return settled

    def _quarantine(self, event: Event, message_key: str, decision: Decision) -> Decision:
        """Hold the event until consent is known, within the per-subject bound."""
        config, store = self.runtime.config, self.runtime.store
        if store.quarantine_count(event.subject_key) >= config.quarantine_per_subject:
            return Decision.drop(*decision.reasons, "quarantine.full")
        now = self.clock()
        held = {"event": dict(event.payload), "headers": dict(event.headers)}
        store.quarantine_add(event.subject_key, message_key,
                             json_text.dumps(held),
                             now, now + timedelta(hours=config.quarantine_ttl_hours))
        return decision

    def _destinations(self, purposes: frozenset[str]) -> frozenset[str]:
        served = self.runtime.rules.purposes.destinations
        return frozenset(name for name, wanted in served.items() if wanted & purposes)

    def _message_key(self, message_id: str) -> str:
        """The keyed stand-in for ``messageId`` in the store and the audit log."""
        return self.runtime.pseudonymizer.message(message_id)

    def _reject(self, exc: InvalidEvent) -> Outcome:
        message_key = None if exc.message_id is None else self._message_key(exc.message_id)
        entry = self.hooks.audit(EventInvalid(message_key, dict(exc.fields)))
        self.hooks.announce_ingest_error(IngestError(
            "validation", VALIDATION_PLUGIN, "InvalidEvent", str(exc), message_key,
            tuple(sorted(exc.fields))))
        return Outcome(Status.INVALID, exc.message_id, exc.reasons,
                       audit_index=entry.index)

    def _plugin_failed(self, event: Event, exc: PluginError, message_key: str) -> Outcome:
        entry = self.hooks.audit_plugin_error(exc, event.subject_key, message_key)
        self.hooks.announce_ingest_error(IngestError(
            exc.hook, exc.plugin, type(exc.cause).__name__, str(exc), message_key))
        return Outcome(Status.DROPPED, event.message_id,
                       ("plugin_error", f"plugin:{exc.plugin}"), audit_index=entry.index)

    def _audit_decision(self, event: Event, message_key: str, decision: Decision,
                        consent: ConsentView,
                        summary: Mapping[str, list[str]] | None = None,
                        changes: Sequence[SegmentChange] = (),
                        destinations: frozenset[str] = frozenset(),
                        chosen_by: Mapping[str, str] | None = None) -> AuditEntry:
        name = None if event.name is None else redact(event.name)[0]
        return self.hooks.audit(EventDecision(
            message_key, event.subject_key, event.type, name,
            decision.action.value, tuple(decision.reasons), tuple(sorted(decision.purposes)),
            {p: s.value for p, s in sorted(consent.purposes.items())}, consent.jurisdiction,
            tuple(sorted(destinations)), self.runtime.rules.version, dict(summary or {}),
            dict(chosen_by or {}),
            tuple(SegmentMove(c.segment, c.entered, c.active) for c in changes)))
