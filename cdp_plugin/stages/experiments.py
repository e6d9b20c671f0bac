"""Built-in experiment assignment: the keyed hash of :mod:`cdp_plugin.experiments.assignment`.

It answers last (``trylast``), so a plugin that asks an outside
experimentation service answers first; block this module by name to make
such a plugin the only one. Consent, eligibility, holdout enforcement,
exposures and the audit stay in the host whichever plugin assigns.
"""

from __future__ import annotations

from cdp_plugin.experiments.assignment import assign
from cdp_plugin.markers import hookimpl
from cdp_plugin.rules.model.experiments import Experiment
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import ContactRequest


@hookimpl(trylast=True)
def cdp_assign_variant(request: ContactRequest, experiment: Experiment,
                       runtime: Runtime) -> str:
    """The subject's arm by the keyed hash of its pseudonym and the experiment's salt."""
    return assign(runtime.pseudonymizer, experiment, request.subject_key)
