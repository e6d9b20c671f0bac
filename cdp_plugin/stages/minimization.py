"""Built-in minimization stage: keep only what the granted purposes need.

The policy is ``rules/minimization.yaml``; see :mod:`cdp_plugin.fieldpolicy`
for how paths and purposes combine.
"""

from __future__ import annotations

from cdp_plugin.fieldpolicy import Minimizer, Plan, compile_plan
from cdp_plugin.markers import hookimpl
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import Decision, Event, MinimizedEvent

_PLANS: dict[tuple[str, str, str | None, frozenset[str]], Plan] = {}
_MAX_PLANS = 4096


def plan_for(runtime: Runtime, event: Event, purposes: frozenset[str]) -> Plan:
    """The compiled plan for this kind of event and set of purposes (cached by
    rules version, so reloading rules never reuses a stale plan)."""
    rules = runtime.rules
    key = (rules.version, event.type, event.name, purposes)
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        plan = compile_plan(rules.minimization.matching(event.type, event.name), purposes)
        _PLANS[key] = plan
    return plan


@hookimpl(trylast=True)
def cdp_minimize_event(event: Event, decision: Decision, runtime: Runtime) -> MinimizedEvent:
    """The payload reduced to what ``decision.purposes`` need, with the steps taken."""
    plan = plan_for(runtime, event, decision.purposes)
    payload, actions = Minimizer(runtime.pseudonymizer.field).apply(plan, event.payload)
    return MinimizedEvent(payload, actions)
