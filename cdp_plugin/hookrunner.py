"""Calling hooks for the pipeline: one typed method per hook, auditing, deferred observers.

The error policy of each kind of hook is the plugin manager's
(:class:`cdp_plugin.hookpolicy.CdpPluginManager`); this module adds what the
pipeline needs around it:

* Each deciding or transforming hook has a method of its own name (without
  the ``cdp_`` prefix) taking the spec's arguments but ``runtime`` and
  returning the spec's type. A failing implementation raises
  :class:`PluginError` naming its plugin, so the caller can fail closed.
* Audit records (:class:`~cdp_plugin.audit.records.AuditRecord`) go through
  :meth:`HookRunner.audit`: anything short of an accepted entry raises
  :class:`AuditError`.
* Each observer hook has an ``announce_*`` method that queues the call until
  :meth:`HookRunner.deliver`, once the store has committed; a failing
  observer is logged and skipped by the manager.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from pluggy import HookCaller

from cdp_plugin.audit.records import AuditRecord, PluginFailed
from cdp_plugin.errors import AuditError, ConfigError, PluginError
from cdp_plugin.hookpolicy import CdpPluginManager
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import (
    AuditEntry,
    ConsentChange,
    ConsentUpdate,
    ConsentView,
    ContactDecision,
    ContactRequest,
    Decision,
    Event,
    IngestError,
    MinimizedEvent,
    Outcome,
    ReconsentDue,
    SegmentChange,
)

if TYPE_CHECKING:
    from cdp_plugin.delivery.targets import TargetFactory
    from cdp_plugin.rules.model.experiments import Experiment


class HookRunner:
    """The pipeline's single way of calling plugins."""

    def __init__(self, pm: CdpPluginManager, runtime: Runtime) -> None:
        self.pm = pm
        self.runtime = runtime
        self._announcements: list[Callable[[], object]] = []

    # --- lifecycle -----------------------------------------------------------------

    def configure(self) -> None:
        """``cdp_configure``, historic: plugins registered later are called on
        registration. Raises PluginError naming a failing plugin."""
        self.pm.hook.cdp_configure.call_historic(kwargs={"runtime": self.runtime})

    def shutdown(self) -> None:
        """``cdp_shutdown`` observers, called now (not queued)."""
        self.pm.hook.cdp_shutdown(runtime=self.runtime)

    # --- deciding and transforming hooks --------------------------------------------

    def resolve_consent(self, event: Event) -> ConsentView | None:
        """``cdp_resolve_consent``: the first resolved view, or None."""
        view: ConsentView | None = self.pm.hook.cdp_resolve_consent(
            event=event, runtime=self.runtime)
        return view

    def decide(self, event: Event, consent: ConsentView) -> Decision | None:
        """``cdp_decide``: the first decision, or None if no plugin decides."""
        decision: Decision | None = self.pm.hook.cdp_decide(
            event=event, consent=consent, runtime=self.runtime)
        return decision

    def minimize_event(self, event: Event, decision: Decision) -> MinimizedEvent | None:
        """``cdp_minimize_event``: the payload that may leave, or None (not forwarded)."""
        minimized: MinimizedEvent | None = self.pm.hook.cdp_minimize_event(
            event=event, decision=decision, runtime=self.runtime)
        return minimized

    def update_segments(self, event: Event, decision: Decision,
                        consent: ConsentView) -> tuple[SegmentChange, ...]:
        """``cdp_update_segments``: every implementation's changes, in call order."""
        return _changes(self.pm.hook.cdp_update_segments(
            event=event, decision=decision, consent=consent, runtime=self.runtime))

    def record_consent(self, update: ConsentUpdate,
                       subject_key: str) -> tuple[ConsentChange, ...] | None:
        """``cdp_record_consent``: the changes the update caused, or None if no
        plugin recorded it."""
        changes = self.pm.hook.cdp_record_consent(update=update, subject_key=subject_key,
                                                  runtime=self.runtime)
        return None if changes is None else tuple(changes)

    def check_contact(self, request: ContactRequest) -> ContactDecision | None:
        """``cdp_check_contact``: the gate's answer, or None if no plugin answers."""
        answer: ContactDecision | None = self.pm.hook.cdp_check_contact(
            request=request, runtime=self.runtime)
        return answer

    def assign_variant(self, request: ContactRequest, experiment: Experiment) -> str | None:
        """``cdp_assign_variant``: the arm the first answering plugin chose, or None.

        Raises PluginError naming the plugin if one raises, and PluginError
        (plugin ``unknown``) if the chosen name is neither one of the
        experiment's variants nor ``holdout``.
        """
        arm = self.pm.hook.cdp_assign_variant(request=request, experiment=experiment,
                                              runtime=self.runtime)
        if arm is None:
            return None
        if not isinstance(arm, str) or arm not in experiment.arms:
            # firstresult does not say which plugin answered (as for export sections).
            raise PluginError("unknown", "cdp_assign_variant",
                              ValueError("the chosen arm is not one of the experiment's"))
        return arm

    def write_audit(self, record: AuditRecord) -> AuditEntry | None:
        """``cdp_write_audit``: the accepted entry, or None if no plugin wrote it.
        Prefer :meth:`audit`, which enforces the audit policy."""
        entry: AuditEntry | None = self.pm.hook.cdp_write_audit(record=record,
                                                                runtime=self.runtime)
        return entry

    # --- registration ------------------------------------------------------------------

    def register_destinations(self) -> dict[str, TargetFactory]:
        """``cdp_register_destinations``: the target factories by kind.

        Raises ConfigError for a kind registered twice, and PluginError
        naming a plugin whose implementation raises.
        """
        registered: list[tuple[str, TargetFactory]] = []

        def register(kind: str, factory: TargetFactory) -> None:
            registered.append((kind, factory))

        self.pm.hook.cdp_register_destinations(register=register)
        factories: dict[str, TargetFactory] = {}
        for kind, factory in registered:
            if not isinstance(kind, str) or not kind or not callable(factory):
                raise ConfigError("cdp_register_destinations: register(kind, factory) "
                                  "takes a kind name and a callable")
            if kind in factories:
                raise ConfigError(f"delivery kind {kind!r} is registered twice")
            factories[kind] = factory
        return factories

    # --- subject state kept by stages ------------------------------------------------

    def apply_consent_change(self, change: ConsentChange,
                             at: datetime) -> tuple[SegmentChange, ...]:
        """``cdp_apply_consent_change``: every implementation's segment changes."""
        return _changes(self.pm.hook.cdp_apply_consent_change(change=change, at=at,
                                                              runtime=self.runtime))

    def tick(self, at: datetime) -> tuple[SegmentChange, ...]:
        """``cdp_tick``: every implementation's segment changes as of ``at``."""
        return _changes(self.pm.hook.cdp_tick(at=at, runtime=self.runtime))

    def export_subject(self, subject_key: str, now: datetime,
                       taken: Collection[str] = ()) -> dict[str, Any]:
        """``cdp_export_subject``: every implementation's sections, merged.

        Raises PluginError if a section name is in ``taken`` (the caller's own
        sections) or was returned twice: an export must not hide data.
        """
        merged: dict[str, Any] = {}
        for sections in self.pm.hook.cdp_export_subject(subject_key=subject_key, now=now,
                                                        runtime=self.runtime):
            for name, data in (sections or {}).items():
                if name in merged or name in taken:
                    raise PluginError("unknown", "cdp_export_subject",
                                      ValueError(f"export section {name!r} returned twice"))
                merged[name] = data
        return merged

    def erase_subject(self, subject_key: str, now: datetime) -> dict[str, int]:
        """``cdp_erase_subject``: how many of each kind the plugins deleted, summed."""
        deleted: dict[str, int] = {}
        for counts in self.pm.hook.cdp_erase_subject(subject_key=subject_key, now=now,
                                                     runtime=self.runtime):
            for kind, count in (counts or {}).items():
                deleted[kind] = deleted.get(kind, 0) + int(count)
        return deleted

    # --- auditing ---------------------------------------------------------------------

    def audit(self, record: AuditRecord) -> AuditEntry:
        """Write one audit record or raise AuditError (the caller must not forward).

        Only typed records (:mod:`cdp_plugin.audit.records`) are written:
        anything else raises AuditError and nothing is written.
        """
        if not isinstance(record, AuditRecord):
            raise AuditError(f"not an audit record: {type(record).__name__}; build one of "
                             "the classes in cdp_plugin.audit.records")
        try:
            entry = self.write_audit(record)
        except PluginError as exc:
            raise AuditError(f"audit plugin {exc.plugin!r} failed: "
                             f"{type(exc.cause).__name__}") from exc
        if not isinstance(entry, AuditEntry):
            raise AuditError("no plugin wrote the audit record")
        if self.pm.hook.cdp_audit_record_written.get_hookimpls():
            self.announce_audit_record_written(entry)
        return entry

    def audit_plugin_error(self, exc: PluginError, subject_key: str | None,
                           message_id: str | None = None) -> AuditEntry:
        """The ``plugin.error`` record: which plugin failed in which hook, no details."""
        return self.audit(PluginFailed(message_id, subject_key, exc.plugin, exc.hook,
                                       type(exc.cause).__name__))

    # --- observers, delivered after the commit -------------------------------------------

    def announce_segment_changed(self, change: SegmentChange) -> None:
        """Queue ``cdp_segment_changed``."""
        self._queue(self.pm.hook.cdp_segment_changed, change=change)

    def announce_consent_changed(self, change: ConsentChange) -> None:
        """Queue ``cdp_consent_changed``."""
        self._queue(self.pm.hook.cdp_consent_changed, change=change)

    def announce_quarantine_released(self, outcome: Outcome) -> None:
        """Queue ``cdp_quarantine_released``."""
        self._queue(self.pm.hook.cdp_quarantine_released, outcome=outcome)

    def announce_reconsent_due(self, due: ReconsentDue) -> None:
        """Queue ``cdp_reconsent_due``."""
        self._queue(self.pm.hook.cdp_reconsent_due, due=due)

    def announce_audit_record_written(self, entry: AuditEntry) -> None:
        """Queue ``cdp_audit_record_written``."""
        self._queue(self.pm.hook.cdp_audit_record_written, entry=entry)

    def announce_ingest_error(self, error: IngestError) -> None:
        """Queue ``cdp_ingest_error``."""
        self._queue(self.pm.hook.cdp_ingest_error, error=error)

    def deliver(self) -> None:
        """Make the queued observer calls, oldest first."""
        queued, self._announcements = self._announcements, []
        for call in queued:
            call()

    def discard(self) -> None:
        """Drop the queued calls: what they announce was rolled back."""
        self._announcements.clear()

    def _queue(self, hook: HookCaller, **kwargs: object) -> None:
        self._announcements.append(partial(hook, runtime=self.runtime, **kwargs))


def _changes(results: list[Any] | None) -> tuple[SegmentChange, ...]:
    """The changes of a hook every implementation contributes to, flattened."""
    return tuple(change for result in results or () if result for change in result)
