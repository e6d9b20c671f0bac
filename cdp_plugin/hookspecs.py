"""The contract between the host pipeline and every plugin, built-in or third-party.

Hooks are grouped by the order in which the pipeline calls them for one event:
consent → decision → minimization → segments → audit, then the observers.
Each kind of hook has its own error policy, enforced inside pluggy's call
loop by :class:`cdp_plugin.hookpolicy.CdpPluginManager`:

* **Deciding and transforming hooks** (``cdp_resolve_consent``,
  ``cdp_decide``, ``cdp_minimize_event``, ``cdp_update_segments``,
  ``cdp_record_consent``, ``cdp_check_contact``, ``cdp_assign_variant``,
  ``cdp_write_audit``) fail closed: if any implementation raises, the event
  is not forwarded (or the contact is refused) and a ``plugin.error`` audit
  record names the plugin.
* **Subject-state hooks** (``cdp_apply_consent_change``, ``cdp_tick``,
  ``cdp_export_subject``, ``cdp_erase_subject``) let a stage keep what it
  derives about subjects to itself: the host never reads or writes that
  state, it asks the stages. They are deciding too: an implementation that
  raises fails the whole operation (nothing committed) with a
  :class:`~cdp_plugin.errors.PluginError` naming the plugin.
* **Registration hooks** (``cdp_register_destinations``) are called once,
  when a command loads its configuration; an implementation that raises
  fails the load with a :class:`~cdp_plugin.errors.PluginError` naming it.
* **Observer hooks** (``cdp_segment_changed``, ``cdp_consent_changed``,
  ``cdp_quarantine_released``, ``cdp_reconsent_due``,
  ``cdp_audit_record_written``, ``cdp_ingest_error``, ``cdp_shutdown``) are
  called once per implementation, in pluggy's order and through any
  wrappers; a failure is logged and isolated, so one broken observer neither
  stops the others nor the event.

Implementations may accept fewer arguments than a spec names (pluggy passes
only those asked for), so new arguments can be added without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cdp_plugin.markers import _hookspec

OBSERVER_HOOKS: frozenset[str] = frozenset({
    "cdp_segment_changed", "cdp_consent_changed", "cdp_quarantine_released",
    "cdp_reconsent_due", "cdp_audit_record_written", "cdp_ingest_error", "cdp_shutdown",
})
"""The hooks whose implementations only observe: each one's failure is logged
and isolated (:mod:`cdp_plugin.hookpolicy`); every other hook fails closed."""

if TYPE_CHECKING:
    from datetime import datetime

    from cdp_plugin.audit.records import AuditRecord
    from cdp_plugin.delivery.targets import TargetFactory
    from cdp_plugin.rules.model.experiments import Experiment
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


# --- lifecycle ---------------------------------------------------------------


@_hookspec(historic=True)
def cdp_configure(runtime: Runtime) -> None:
    """Called once when a pipeline is built, after the rules are loaded and the
    store and audit log are open.

    Historic: a plugin registered later still receives the call on
    registration. ``runtime`` holds the configuration, the compiled rules, the
    store, the pseudonymizer and the audit log. Return value is ignored. A
    raising implementation aborts pipeline construction with a
    :class:`~cdp_plugin.errors.PluginError` naming the plugin.
    """


@_hookspec
def cdp_shutdown(runtime: Runtime) -> None:
    """Observer: called once when the pipeline closes, before the audit log's
    final checkpoint is written. Return value is ignored."""


# --- the per-event decision path ---------------------------------------------


@_hookspec(firstresult=True)
def cdp_resolve_consent(event: Event, runtime: Runtime) -> ConsentView | None:
    """Resolve the subject's consent, per purpose, that holds for ``event``.

    Called for every valid, non-replayed event before any decision. The first
    non-``None`` result wins. If every implementation returns ``None``, every
    purpose is ``UNKNOWN`` (unknown consent fails closed). The built-in
    consent stage combines the consent ledger with in-event signals.
    """


@_hookspec(firstresult=True)
def cdp_decide(event: Event, consent: ConsentView, runtime: Runtime) -> Decision | None:
    """Decide whether ``event`` is allowed, dropped (with reason codes) or
    quarantined until consent is known.

    Called for every valid, non-replayed event after consent was resolved.
    The first non-``None`` result wins; return ``None`` to let later plugins
    decide. The built-in consent stage decides last (``trylast``), so a
    plugin may drop or quarantine before it. An ``ALLOW`` is honoured only for
    purposes granted in ``consent``; otherwise the host drops the event with
    ``consent.not_granted``. If no plugin decides, the event is dropped with
    ``no_decision``.
    """


@_hookspec(firstresult=True)
def cdp_minimize_event(event: Event, decision: Decision, runtime: Runtime) -> MinimizedEvent | None:
    """Produce the payload that may leave the plugin for an allowed event.

    Called only for ``ALLOW`` decisions, with the purposes granted in
    ``decision.purposes``. The first non-``None`` result wins; if all return
    ``None``, the event is not forwarded (``no_minimizer``). To transform the
    minimized payload, implement this hook as a wrapper
    (``@hookimpl(wrapper=True)``) and return a new :class:`MinimizedEvent`
    built from the result of ``yield``.
    """


@_hookspec
def cdp_update_segments(
    event: Event, decision: Decision, consent: ConsentView, runtime: Runtime
) -> Sequence[SegmentChange] | None:
    """Update the subject's behavioural features and segment memberships.

    Called for ``ALLOW`` decisions after minimization. Every implementation
    is called; each returns the segment entries and exits it caused (or
    ``None`` for none). Implementations must only use ``event`` for segments
    whose purpose is in ``decision.purposes``.
    """


@_hookspec(firstresult=True)
def cdp_record_consent(update: ConsentUpdate, subject_key: str, runtime: Runtime) -> (
    Sequence[ConsentChange] | None
):
    """Record a preference update (for example from the preference center) in
    the consent ledger and return the changes of current state it caused.

    Called by :meth:`Pipeline.record_consent`, inside the store transaction
    that also audits the update.
    The first non-``None`` result wins. If every implementation returns
    ``None``, the update is rejected (nothing recorded). ``subject_key`` is
    the keyed pseudonym of ``update.subject_id``.
    """


@_hookspec(firstresult=True)
def cdp_check_contact(request: ContactRequest, runtime: Runtime) -> ContactDecision | None:
    """The activation gate: may ``request.subject_key`` be contacted on
    ``request.channel`` about ``request.topic`` for ``request.purpose`` at
    ``request.at``?

    Called by :meth:`Pipeline.may_contact` before a CDP sends a message. The
    first non-``None`` result wins; if every implementation returns ``None``,
    the answer is no (``no_gate``). The built-in activation stage checks the
    purpose, the channel opt-in, the topic subscription, the frequency cap
    (recording the send when allowed and ``request.record``) and quiet hours
    in the subject's time zone.
    """


@_hookspec(firstresult=True)
def cdp_assign_variant(request: ContactRequest, experiment: Experiment,
                       runtime: Runtime) -> str | None:
    """Choose the arm of ``request.subject_key`` in ``experiment``: one of its
    variant names, or ``"holdout"`` (never contacted for it).

    Called by :meth:`Pipeline.may_contact` with ``experiment=``, once per
    subject and experiment: the first time the subject is asked about while the
    experiment runs, after the gate found that its consent allows
    ``experiment.purpose`` and that it is eligible. The host stores the arm,
    so later requests reuse it without calling the hook, and audits the
    assignment (``experiment.assigned``); it refuses holdout subjects itself.
    The first non-``None`` result wins; the built-in
    :mod:`cdp_plugin.stages.experiments` answers last (``trylast``) with a
    keyed hash of the subject pseudonym and ``experiment.salt``, so a plugin
    may ask an outside service (GrowthBook, Optimizely) first. A name that is
    neither a variant nor ``"holdout"``, or an implementation that raises, is a
    plugin error: the answer is no (``plugin_error``) and nothing is assigned.
    If every implementation returns ``None`` the answer is no
    (``experiment.unassigned``).
    """


@_hookspec(firstresult=True)
def cdp_write_audit(record: AuditRecord, runtime: Runtime) -> AuditEntry | None:
    """Append ``record`` to the tamper-evident audit log and return the accepted entry.

    ``record`` is a frozen dataclass from :mod:`cdp_plugin.audit.records`, one
    class per kind (``record.kind``); ``record.as_dict()`` is the JSON-ready
    dict to store, without raw personal data.

    Called for every decision, rejection, plugin error, consent change and
    rule-set load, before the outcome is returned to the host.
    The first non-``None`` result wins. If every implementation returns
    ``None`` or one raises, the audit log counts as unavailable and nothing
    is forwarded (fail closed).
    """


# --- subject state kept by stages ---------------------------------------------------


@_hookspec
def cdp_apply_consent_change(change: ConsentChange, at: datetime, runtime: Runtime) -> (
    Sequence[SegmentChange] | None
):
    """Apply a recorded change of a purpose's current consent state to what the
    plugin derived from the subject, and return the segment entries and exits
    it caused.

    Called by :meth:`Pipeline.record_consent` once per change, inside the store
    transaction that records and audits the update, so a withdrawal takes
    effect atomically with its ledger entry (an observer of
    ``cdp_consent_changed`` runs only after the commit). ``at`` is the
    update's capture time. Every implementation is called; each returns its
    changes, or ``None`` for none. The host audits each change
    (``segment.changed``, cause ``consent``) and announces it to
    ``cdp_segment_changed`` after the commit. An implementation that raises
    fails the update: nothing is recorded. The built-in segmentation stage
    exits the segments that need a withdrawn purpose and deletes the feature
    state only that purpose justified; on a grant it enters the segments whose
    conditions already hold.
    """


@_hookspec
def cdp_tick(at: datetime, runtime: Runtime) -> Sequence[SegmentChange] | None:
    """Apply the segment entries and exits that time alone causes as of ``at``
    (dormant after N days, replenishment due) and return them.

    Called by :meth:`Pipeline.tick` (which a CDP schedules, or ``cdp-plugin
    segments tick``) inside one store transaction. Every implementation is
    called; each returns its changes, or ``None`` for none. The host audits
    each change (cause ``tick``) and announces it to ``cdp_segment_changed``
    after the commit. An implementation that raises rolls the whole tick back.
    """


@_hookspec
def cdp_export_subject(subject_key: str, now: datetime, runtime: Runtime) -> (
    Mapping[str, Any] | None
):
    """Return what the plugin holds about the subject, for an access request,
    as sections of the export: section name to JSON-ready data.

    Called once per access request (``POST /v1/subject-requests``, ``access``), inside the unit
    of work that audits the access, with ``now`` the request time. Every
    implementation is called; each returns its sections, or ``None`` if it
    holds nothing. A section name the host already uses (``consent``,
    ``preferences``, ...) or that another implementation returned fails the
    export rather than hide data. Must not write. The built-in segmentation
    stage returns ``segments`` (current memberships with the clauses that
    hold now) and ``features``.
    """


@_hookspec
def cdp_erase_subject(subject_key: str, now: datetime, runtime: Runtime) -> (
    Mapping[str, int] | None
):
    """Delete what the plugin holds about the subject, for an erasure request,
    and return how many of each kind it deleted.

    Called once per erasure (``POST /v1/subject-requests``, ``erasure``) inside its unit of
    work, after every consent purpose was withdrawn (so
    ``cdp_apply_consent_change`` already ended the memberships) and before the
    erasure is audited. Every implementation is called; each returns kind to
    count (counts of one kind add up across plugins and with the host's), or
    ``None`` if it held nothing. An implementation that raises fails the
    erasure: nothing is erased. The built-in segmentation stage deletes the
    subject's profile (``profile``).
    """


# --- registration ---------------------------------------------------------------


@_hookspec
def cdp_register_destinations(register: Callable[[str, TargetFactory], None]) -> None:
    """Register delivery target kinds: call ``register(kind, factory)`` once per kind.

    A binding ``delivery.<destination>: {kind: <kind>, ...}`` in the
    configuration file is built by ``factory(destination, spec)``, where
    ``spec`` is the binding's mapping (``kind`` included). The factory raises
    :class:`~cdp_plugin.errors.ConfigError` naming the key for a spec it
    refuses, and returns a target with ``send(events)`` (queued: delivered
    at least once from the store's delivery queue, see
    :class:`cdp_plugin.delivery.targets.QueuedTarget`) or ``write(events)``
    (direct: written durably inside the unit of work that decided the
    events). Called once per load of the ``delivery:`` section; every
    implementation is called, in pluggy's order, and registering a kind
    that is already registered fails the load. The built-in kinds
    (``jsonl``, ``segment``, ``webhook``, ``postgres``) are registered by
    :mod:`cdp_plugin.delivery.kinds`.
    """


# --- observers -----------------------------------------------------------------


@_hookspec
def cdp_segment_changed(change: SegmentChange, runtime: Runtime) -> None:
    """Observer: a subject entered or left a segment. Called after the audit
    record holding the change was written. Return value is ignored."""


@_hookspec
def cdp_consent_changed(change: ConsentChange, runtime: Runtime) -> None:
    """Observer: the current consent state of a subject changed for one
    purpose. Called after the change was recorded and audited. Return value
    is ignored."""


@_hookspec
def cdp_quarantine_released(outcome: Outcome, runtime: Runtime) -> None:
    """Observer: called for each quarantined event forwarded after its
    subject's consent became known, in the original order, after the store
    committed. ``outcome.event`` is the minimized payload to send downstream.
    Return value is ignored."""


@_hookspec
def cdp_reconsent_due(due: ReconsentDue, runtime: Runtime) -> None:
    """Observer: called by :meth:`Pipeline.reconsent_due` for each subject
    whose consent expired or was given under a superseded notice, once per
    distinct finding, after it was audited. Until the subject consents again
    that consent counts as unknown. Return value is ignored."""


@_hookspec
def cdp_audit_record_written(entry: AuditEntry, runtime: Runtime) -> None:
    """Observer: called after a record was appended to the audit log and the
    store committed. Return value is ignored. Must be fast: it runs for
    every record."""


@_hookspec
def cdp_ingest_error(error: IngestError, runtime: Runtime) -> None:
    """Observer: an event was rejected as invalid, or a plugin failed while
    processing it. Called after the error was audited; the event is not
    forwarded whatever the observers do. Return value is ignored."""
