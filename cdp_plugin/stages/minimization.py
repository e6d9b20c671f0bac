"""Built-in minimization stage: keep only what the granted purposes need.

The policy is ``rules/minimization.yaml``; :mod:`cdp_plugin.minimization` does
the work (:mod:`~cdp_plugin.minimization.deliveries` for the payloads an event
gets). This module only adapts it to the ``cdp_minimize_event`` hook.
"""

from __future__ import annotations

from cdp_plugin.markers import hookimpl
from cdp_plugin.minimization.deliveries import minimize_event
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import Decision, Event, MinimizedEvent


@hookimpl(trylast=True)
def cdp_minimize_event(event: Event, decision: Decision, runtime: Runtime) -> MinimizedEvent:
    """The payload reduced to what ``decision.purposes`` need, per-destination
    deliveries, and the steps taken.

    Raises if a data key cannot be read or created (the pipeline then drops
    the event: minimization fails closed).
    """
    return minimize_event(event, decision, runtime)
