"""The host: the object a CDP embeds and calls per event or per batch.

For each event the pipeline validates, deduplicates, resolves consent,
decides, minimizes, updates segments and audits, through the hooks in
:mod:`cdp_plugin.hookspecs`. Its promises:

* Only an event whose outcome is ``FORWARDED`` may leave the plugin, and it
  leaves as the minimized payload in ``Outcome.event``.
* Fail closed: a deciding or transforming hook that raises, a decision that
  allows a purpose without consent, or an audit log that cannot be written
  means the event is not forwarded. Audit failures raise
  :class:`~cdp_plugin.errors.AuditError` and roll back the whole call.
* Every decision, rejection and plugin error is in the audit log before the
  call returns; observers are notified after the store has committed.

A pipeline is not thread-safe: use one per worker thread or process (each
with its own ``worker_id``, so each writes its own audit log).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from cdp_plugin.audit.log import AuditLog
from cdp_plugin.config import Config, load_config
from cdp_plugin.consent.reconsent import find_reconsent_due
from cdp_plugin.errors import InvalidEvent, PluginError
from cdp_plugin.events import decode_line, parse_event
from cdp_plugin.hookpolicy import CdpPluginManager
from cdp_plugin.hookrunner import HookRunner
from cdp_plugin.keys.audit_signer import load_audit_signer
from cdp_plugin.keys.keyring import Keyring
from cdp_plugin.keys.master import load_master_key
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.manager import make_plugin_manager, plugin_names
from cdp_plugin.retention import SweepReport, sweep
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.runtime import Runtime
from cdp_plugin.storage import open_store
from cdp_plugin.types import (
    Action,
    AuditEntry,
    ConsentResult,
    ConsentUpdate,
    ConsentView,
    ContactDecision,
    ContactRequest,
    Decision,
    Event,
    IngestError,
    Outcome,
    ReconsentDue,
    SegmentChange,
    Status,
)

RawEvent = Mapping[str, Any] | str | bytes
Clock = Callable[[], datetime]
VALIDATION_PLUGIN = "cdp_plugin.validation"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """One ingest pipeline: a plugin manager plus the resources it runs on.

    Build it with :meth:`from_config`; call :meth:`process` or
    :meth:`process_batch`; :meth:`close` it (or use it as a context manager)
    so the audit log writes its final checkpoint.
    """

    def __init__(self, runtime: Runtime, pm: CdpPluginManager, clock: Clock = _utcnow) -> None:
        self.runtime = runtime
        self.pm = pm
        self.clock = clock
        self.hooks = HookRunner(pm, runtime)
        self._closed = False
        self._depth = 0
        self.hooks.configure()

    @classmethod
    def from_config(cls, config: Config | None = None, *, plugins: Sequence[object] = (),
                    clock: Clock = _utcnow) -> Pipeline:
        """Load rules, open the store, keys and audit log, register plugins.

        Raises ``RulesError``, ``ConfigError``, ``StorageError``,
        ``AuditError`` or ``PluginError``; nothing stays open on failure.
        """
        config = config or load_config()
        rules = load_rules(config.rules_dir)
        with ExitStack() as cleanup:
            store = open_store(config.store_target)
            cleanup.callback(store.close)
            audit_log = AuditLog(
                config.audit_dir, config.audit_origin, load_audit_signer(config),
                checkpoint_every=config.checkpoint_every,
                checkpoint_interval=config.checkpoint_interval, fsync=config.audit_fsync,
            )
            cleanup.callback(audit_log.close)
            runtime = Runtime(config, rules, store, Pseudonymizer(load_master_key(config)),
                              audit_log)
            pm = make_plugin_manager(blocked=config.blocked_plugins,
                                     load_entrypoints=config.load_entrypoints,
                                     extra_plugins=plugins)
            pipeline = cls(runtime, pm, clock)
            pipeline.hooks.audit({"kind": "rules.loaded", "rules_version": rules.version,
                                  "files": dict(rules.file_hashes),
                                  "plugins": plugin_names(pm)})
            audit_log.flush()
            cleanup.pop_all()
        pipeline.hooks.deliver()
        return pipeline

    # --- events ------------------------------------------------------------------

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
            outcomes = [self._process_one(raw, headers) for raw in raws]
        return outcomes

    # --- consent -----------------------------------------------------------------

    def record_consent(self, update: ConsentUpdate) -> ConsentResult:
        """Record a preference update in the ledger, audit it, notify observers,
        and settle the subject's quarantined events under the new state.

        Held events that are now allowed are released in their original order
        with their original timestamps (``ConsentResult.released``, and the
        ``cdp_quarantine_released`` hook); those now denied are purged. Raises
        :class:`PluginError` if the recording hook fails or no plugin records
        consent; nothing is recorded then.
        """
        subject_key = self.runtime.pseudonymizer.subject(update.subject_id)
        with self.unit_of_work():
            result = self.hooks.record_consent(update, subject_key)
            if result is None:
                raise PluginError("none", "cdp_record_consent",
                                  LookupError("no plugin records consent"))
            changes = list(result)
            self.hooks.audit({
                "kind": "consent.recorded", "subject": subject_key, "source": update.source,
                "captured_at": update.captured_at.isoformat(),
                "notice_version": update.notice_version,
                "purposes": dict(update.purposes), "channels": dict(update.channels),
                "topics": dict(update.topics),
                "changes": [{"purpose": c.purpose, "previous": c.previous.value,
                             "current": c.current.value} for c in changes],
            })
            for change in changes:
                self.hooks.announce_consent_changed(change)
                # A withdrawal ends the segments (and feature state) the purpose
                # justified in the same transaction, not in a later observer.
                self._segments_changed(self.hooks.apply_consent_change(
                    change, update.captured_at), "consent")
            settled = self._settle_quarantine(subject_key) if changes else []
        return ConsentResult(tuple(changes), tuple(settled))

    def may_contact(self, subject_id: str, channel: str, topic: str | None = None, *,
                    purpose: str = "marketing", at: datetime | None = None,
                    record: bool = True) -> ContactDecision:
        """The activation gate, audited: may this subject be contacted now?

        A failing gate plugin answers no (``plugin_error``), never yes.
        """
        request = ContactRequest(self.runtime.pseudonymizer.subject(subject_id), channel,
                                 at or self.clock(), topic, purpose, record)
        with self.unit_of_work():
            try:
                answer = (self.hooks.check_contact(request)
                          or ContactDecision(False, "no_gate"))
            except PluginError as exc:
                answer = ContactDecision(False, "plugin_error")
                self.hooks.audit_plugin_error(exc, request.subject_key)
            self.hooks.audit({"kind": "activation.checked", "subject": request.subject_key,
                              "channel": channel, "topic": topic, "purpose": purpose,
                              "allowed": answer.allowed, "reason": answer.reason})
        return answer

    def reconsent_due(self, now: datetime | None = None) -> list[ReconsentDue]:
        """Find subjects whose consent expired or was given under a superseded
        notice; audit and announce (``cdp_reconsent_due``) each new finding.

        Returns every subject currently due, including those announced before.
        A CDP schedules this (e.g. daily).
        """
        store = self.runtime.store
        due = find_reconsent_due(store, self.runtime.rules.purposes.consent,
                                 now or self.clock())
        with self.unit_of_work():
            for item in due:
                marker = f"reconsent:{item.subject_key}"
                finding = json.dumps([item.reasons, item.items])
                if store.get_meta(marker) == finding:
                    continue
                store.set_meta(marker, finding)
                self.hooks.audit({"kind": "consent.reconsent_due", "subject": item.subject_key,
                                  "reasons": list(item.reasons), "items": list(item.items)})
                self.hooks.announce_reconsent_due(item)
        return due

    def expire_quarantine(self, now: datetime | None = None) -> int:
        """Purge held events whose time to live has passed; returns how many.

        A CDP schedules this (e.g. every few minutes); each purge is audited.
        """
        with self.unit_of_work():
            store = self.runtime.store
            expired = store.quarantine_expired(now or self.clock())
            for held in expired:
                self.hooks.audit({"kind": "quarantine.purged", "message_id": held.message_id,
                                  "subject": held.subject_key,
                                  "reasons": ["quarantine.expired"]})
            store.quarantine_remove([held.id for held in expired])
        return len(expired)

    def sweep_retention(self, now: datetime | None = None) -> SweepReport:
        """Delete stored data past its time to live (``rules/retention.yaml``)
        in one unit of work; each purged held event and the sweep are audited."""
        with self.unit_of_work():
            report = sweep(self.runtime, self.runtime.rules.retention, now or self.clock())
            for purged in report.purged:
                self.hooks.audit({"kind": "quarantine.purged", "message_id": purged.message_id,
                                  "subject": purged.subject_key,
                                  "reasons": ["retention.expired"]})
            self.hooks.audit({"kind": "retention.swept", **report.as_dict()})
        return report

    def tick(self, now: datetime | None = None) -> list[SegmentChange]:
        """Have the stages apply time-based segment entries and exits (dormant
        after N days, replenishment due) as of ``now`` (``cdp_tick``); each
        change is audited and announced to ``cdp_segment_changed`` after
        commit. A CDP schedules this. Raises PluginError (nothing applied) if
        a stage fails."""
        at = now or self.clock()
        with self.unit_of_work():
            changes = list(self.hooks.tick(at))
            self._segments_changed(changes, "tick")
        return changes

    def rotate_keys(self, subject_id: str | None = None) -> int:
        """Re-wrap data keys under the current master key and start new data
        keys for new writes (one subject, or all); old values still decrypt.
        Audited as ``keys.rotated``; returns how many subjects were rotated."""
        pseudonymizer = self.runtime.pseudonymizer
        subject = None if subject_id is None else pseudonymizer.subject(subject_id)
        with self.unit_of_work():
            rotated = Keyring(self.runtime.store, pseudonymizer.master_keys).rotate(subject)
            self.hooks.audit({"kind": "keys.rotated",
                              "master_key": pseudonymizer.master_keys.current.key_id,
                              "subject": subject, "subjects": rotated})
        return rotated

    # --- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Notify ``cdp_shutdown`` observers, checkpoint the audit log, close the store."""
        if self._closed:
            return
        self._closed = True
        try:
            self.hooks.shutdown()
        finally:
            try:
                self.runtime.audit_log.close()
            finally:
                self.runtime.store.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Group pipeline calls so they commit together or not at all.

        One store transaction whose audit records are flushed before it
        commits; observers hear of anything in it only after the commit. A
        nested use joins the enclosing one. Whatever the block raises rolls
        everything back and is re-raised.
        """
        if self._closed:
            raise RuntimeError("the pipeline is closed")
        if self._depth:
            self._depth += 1
            try:
                with self.runtime.store.transaction():
                    yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self.runtime.store.transaction():
                yield
                self.runtime.audit_log.flush()
        except BaseException:
            self.hooks.discard()  # nothing was committed, so nothing to announce
            raise
        finally:
            self._depth = 0
        self.hooks.deliver()

    # --- one event ---------------------------------------------------------------

    def _process_one(self, raw: RawEvent, headers: Mapping[str, str] | None) -> Outcome:
        try:
            message = raw if isinstance(raw, Mapping) else decode_line(raw)
            event = parse_event(message, self.runtime.pseudonymizer.subject, headers)
        except InvalidEvent as exc:
            return self._reject(exc)
        store = self.runtime.store
        if not store.remember_message(event.message_id, self.clock()):
            self.hooks.audit({"kind": "event.duplicate", "message_id": event.message_id,
                              "subject": event.subject_key})
            return Outcome(Status.DUPLICATE, event.message_id, ("duplicate",))
        try:
            outcome = self._decide_and_apply(event)
            assert outcome is not None  # only held events can stay undecided
            return outcome
        except PluginError as exc:
            store.forget_message(event.message_id)  # a retry after the fix is no replay
            return self._plugin_failed(event, exc)

    def _decide_and_apply(self, event: Event, held: bool = False) -> Outcome | None:
        """Decide and act on one event; for an event already ``held`` in
        quarantine, None means it stays there."""
        consent = self.hooks.resolve_consent(event) or ConsentView(event.subject_key)
        decision = self.hooks.decide(event, consent) or Decision.drop("no_decision")
        if decision.action is Action.ALLOW and (
                not decision.purposes or not decision.purposes <= consent.granted):
            decision = Decision.drop("consent.not_granted")
        if decision.action is Action.QUARANTINE:
            if held:
                return None
            decision = self._quarantine(event, decision)
        if decision.action is not Action.ALLOW:
            entry = self._audit_decision(event, decision, consent)
            status = Status.QUARANTINED if decision.action is Action.QUARANTINE else Status.DROPPED
            return Outcome(status, event.message_id, decision.reasons,
                           audit_index=entry.index)
        minimized = self.hooks.minimize_event(event, decision)
        if minimized is None:
            decision = Decision.drop("no_minimizer")
            entry = self._audit_decision(event, decision, consent)
            return Outcome(Status.DROPPED, event.message_id, decision.reasons,
                           audit_index=entry.index)
        changes = self.hooks.update_segments(event, decision, consent)
        summary, chosen_by = minimized.summary(), minimized.rules()
        destinations = self._destinations(decision.purposes)
        entry = self._audit_decision(event, decision, consent, summary, changes, destinations,
                                     chosen_by)
        for change in changes:
            self.hooks.announce_segment_changed(change)
        return Outcome(
            Status.FORWARDED, event.message_id, decision.reasons, dict(minimized.payload),
            summary, changes, entry.index, decision.purposes, destinations,
            dict(minimized.deliveries), chosen_by,
        )

    def _settle_quarantine(self, subject_key: str) -> list[Outcome]:
        """Decide each held event of the subject again, in original order;
        release or purge those that no longer wait for consent."""
        store = self.runtime.store
        settled = []
        for held in store.quarantine_list(subject_key):
            stored = json.loads(held.payload)
            event = parse_event(stored["event"], self.runtime.pseudonymizer.subject,
                                stored["headers"])
            try:
                outcome = self._decide_and_apply(event, held=True)
            except PluginError as exc:
                self._plugin_failed(event, exc)  # stays held; the error is audited
                continue
            if outcome is None:
                continue
            store.quarantine_remove([held.id])
            released = outcome.status is Status.FORWARDED
            self.hooks.audit({"kind": "quarantine.released" if released else "quarantine.purged",
                              "message_id": held.message_id, "subject": subject_key,
                              "reasons": list(outcome.reasons)})
            if released:
                self.hooks.announce_quarantine_released(outcome)
            settled.append(outcome)
        return settled

    def _quarantine(self, event: Event, decision: Decision) -> Decision:
        """Hold the event until consent is known, within the per-subject bound."""
        config, store = self.runtime.config, self.runtime.store
        if store.quarantine_count(event.subject_key) >= config.quarantine_per_subject:
            return Decision.drop(*decision.reasons, "quarantine.full")
        now = self.clock()
        held = {"event": dict(event.payload), "headers": dict(event.headers)}
        store.quarantine_add(event.subject_key, event.message_id,
                             json.dumps(held, separators=(",", ":")),
                             now, now + timedelta(hours=config.quarantine_ttl_hours))
        return decision

    def _destinations(self, purposes: frozenset[str]) -> frozenset[str]:
        served = self.runtime.rules.purposes.destinations
        return frozenset(name for name, wanted in served.items() if wanted & purposes)

    def _reject(self, exc: InvalidEvent) -> Outcome:
        entry = self.hooks.audit({"kind": "event.invalid", "message_id": exc.message_id,
                                  "problems": exc.fields})
        self.hooks.announce_ingest_error(IngestError(
            "validation", VALIDATION_PLUGIN, "InvalidEvent", str(exc), exc.message_id,
            tuple(sorted(exc.fields))))
        return Outcome(Status.INVALID, exc.message_id, exc.reasons,
                       audit_index=entry.index)

    def _plugin_failed(self, event: Event, exc: PluginError) -> Outcome:
        entry = self.hooks.audit_plugin_error(exc, event.subject_key, event.message_id)
        self.hooks.announce_ingest_error(IngestError(
            exc.hook, exc.plugin, type(exc.cause).__name__, str(exc), event.message_id))
        return Outcome(Status.DROPPED, event.message_id,
                       ("plugin_error", f"plugin:{exc.plugin}"), audit_index=entry.index)

    def _segments_changed(self, changes: Sequence[SegmentChange], cause: str) -> None:
        """Audit segment changes made outside an event decision; announce them."""
        for change in changes:
            self.hooks.audit({"kind": "segment.changed", "subject": change.subject_key,
                              "segment": change.segment, "entered": change.entered,
                              "active": change.active, "at": change.at.isoformat(),
                              "cause": cause})
            self.hooks.announce_segment_changed(change)

    def _audit_decision(self, event: Event, decision: Decision, consent: ConsentView,
                        summary: Mapping[str, list[str]] | None = None,
                        changes: Sequence[SegmentChange] = (),
                        destinations: frozenset[str] = frozenset(),
                        chosen_by: Mapping[str, str] | None = None) -> AuditEntry:
        return self.hooks.audit({
            "kind": "event.decision", "message_id": event.message_id,
            "subject": event.subject_key, "type": event.type, "event": event.name,
            "action": decision.action.value, "reasons": list(decision.reasons),
            "purposes": sorted(decision.purposes),
            "consent": {p: s.value for p, s in sorted(consent.purposes.items())},
            "jurisdiction": consent.jurisdiction,
            "destinations": sorted(destinations),
            "rules_version": self.runtime.rules.version,
            "minimization": dict(summary or {}),
            "minimization_rules": dict(chosen_by or {}),
            "segments": [{"segment": c.segment, "entered": c.entered, "active": c.active}
                         for c in changes],
        })
