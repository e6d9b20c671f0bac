"""The activation gate for a send that belongs to an experiment.

:func:`check_experiment_contact` answers a :class:`ContactRequest` whose
``experiment`` is set, in this order (the first that fails gives the reason):

0. ``request.at`` has a time zone (``invalid_time`` otherwise: an
   experiment's dates cannot be compared with a naive time);
1. the experiment exists (``unknown_experiment``), runs at ``request.at``
   (``experiment_not_running``: approved, status running, within its dates)
   and serves the request's purpose (``experiment.purpose_mismatch``);
2. the ordinary gate (``cdp_check_contact``) allows the send, asked without
   recording it: the purpose's consent, the channel, the topic, the caps and
   quiet hours; its refusal is the answer, and the subject is not assigned;
3. the subject is eligible (``experiment.not_eligible``);
4. the subject's arm: the stored one, else ``cdp_assign_variant`` chooses it
   and the host stores and audits it (``experiment.assigned``, once);
5. a holdout subject is refused (``holdout``); with ``record`` its first
   refusal is recorded as a counterfactual exposure, so holdout and
   variants are measured from the same moment;
6. otherwise the ordinary gate is asked again with ``record`` (so the send
   counts against the caps) and, when it allows, the first exposure is
   recorded and audited; the answer names the variant and its attributes.

A plugin that raises in either hook raises :class:`PluginError` out of
here, and the caller answers no (``plugin_error``). Nothing is assigned
when the assignment fails; when the recording gate call of step 6 fails,
the assignment made before it stands (consent and eligibility held) but
no exposure is recorded.
"""

from __future__ import annotations

from dataclasses import replace

from cdp_plugin.audit.records import ExperimentAssigned, ExperimentExposed
from cdp_plugin.hookrunner import HookRunner
from cdp_plugin.rules.model.experiments import HOLDOUT, Experiment
from cdp_plugin.segments.eligibility import is_eligible
from cdp_plugin.types import ContactDecision, ContactRequest

NO_GATE = "no_gate"


def check_experiment_contact(hooks: HookRunner, request: ContactRequest) -> ContactDecision:
    """The gate's answer for a send of ``request.experiment`` (see the module docstring).

    Raises PluginError if a gate or assignment plugin fails, StorageError or
    AuditError if the store or the audit log does.
    """
    runtime = hooks.runtime
    if request.at.tzinfo is None or request.at.utcoffset() is None:
        return ContactDecision(False, "invalid_time")
    name = request.experiment
    experiment = None if name is None else runtime.rules.experiments.get(name)
    if experiment is None:
        return ContactDecision(False, "unknown_experiment")
    if not experiment.running_at(request.at):
        return ContactDecision(False, "experiment_not_running")
    if request.purpose != experiment.purpose:
        return ContactDecision(False, "experiment.purpose_mismatch")
    probe = hooks.check_contact(replace(request, record=False)) or ContactDecision(False, NO_GATE)
    if not probe.allowed:
        return probe
    store = runtime.store
    if not is_eligible(store, runtime.rules.segments, experiment.eligibility,
                       request.subject_key, request.at):
        return ContactDecision(False, "experiment.not_eligible")
    arm = _arm(hooks, request, experiment)
    if arm is None:
        return ContactDecision(False, "experiment.unassigned")
    if arm == HOLDOUT:
        if request.record:
            _expose(hooks, request, experiment, arm, counterfactual=True)
        return ContactDecision(False, "holdout", experiment=experiment.name)
    variant = experiment.variant(arm)
    if variant is None:  # the arm was renamed or removed since the subject got it
        return ContactDecision(False, "experiment.arm_removed", experiment=experiment.name)
    answer = probe
    if request.record:
        answer = hooks.check_contact(request) or ContactDecision(False, NO_GATE)
        if not answer.allowed:
            return answer
        _expose(hooks, request, experiment, arm, counterfactual=False)
    return replace(answer, experiment=experiment.name, variant=arm,
                   attributes=variant.attributes)


def _arm(hooks: HookRunner, request: ContactRequest, experiment: Experiment) -> str | None:
    """The subject's stored arm, or a newly chosen one, stored and audited."""
    store = hooks.runtime.store
    stored = store.experiment_subject(experiment.name, request.subject_key)
    if stored is not None:
        return stored.arm
    arm = hooks.assign_variant(request, experiment)
    if arm is None:
        return None
    if not store.experiment_assign(experiment.name, request.subject_key, arm, request.at):
        # Another worker assigned it first: its arm stands, and it audited it.
        again = store.experiment_subject(experiment.name, request.subject_key)
        return None if again is None else again.arm
    hooks.audit(ExperimentAssigned(experiment.name, request.subject_key, arm,
                                   hooks.runtime.rules.version))
    return arm


def _expose(hooks: HookRunner, request: ContactRequest, experiment: Experiment, arm: str, *,
            counterfactual: bool) -> None:
    """Record and audit the subject's first exposure; later ones change nothing."""
    if hooks.runtime.store.experiment_expose(experiment.name, request.subject_key, request.at):
        hooks.audit(ExperimentExposed(experiment.name, request.subject_key, arm,
                                      request.channel, counterfactual))
