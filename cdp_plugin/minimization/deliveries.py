"""Minimizing one event under the loaded rules: its generic payload and its deliveries.

Each forwarded event gets a generic payload, shaped by the rules without
``destinations`` for every purpose of the decision, and one delivery per
destination that serves one of those purposes and is named by a rule
matching the event: shaped by the generic rules plus that destination's
rules, for the destination's purposes among the decision's. The summary
lists the generic payload's steps by path and each delivery's steps as
``<destination>:<path>``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from cdp_plugin.keys.keyring import Keyring
from cdp_plugin.minimization.minimizer import Minimizer
from cdp_plugin.minimization.pii_guard import redact
from cdp_plugin.minimization.plan import Plan, compile_plan, rules_for
from cdp_plugin.rules.model import MinimizationRule
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import Decision, Event, FieldAction, MinimizedEvent

_PlanKey = tuple[str, str, str | None, frozenset[str], str | None]
_PLANS: dict[_PlanKey, Plan] = {}
_MAX_PLANS = 4096
_SHARED: dict[tuple[str, tuple[str, ...], frozenset[str]], Plan] = {}
"""Plans by the rules that shape them (by name, under one rules version) and purposes:
event kinds matched by the same rules share one plan, and the paths it has resolved."""


def plan_for(runtime: Runtime, event: Event, purposes: frozenset[str],
             destination: str | None = None) -> Plan:
    """The compiled plan for this kind of event, set of purposes and payload
    (``destination`` None for the generic one); cached by rules version, so
    reloading rules never reuses a stale plan."""
    rules = runtime.rules
    key = (rules.version, event.type, event.name, purposes, destination)
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
            _SHARED.clear()
        chosen = rules_for(rules.minimization.matching(event.type, event.name), destination)
        shared = (rules.version, tuple(rule.name for rule in chosen), purposes)
        plan = _SHARED.get(shared)
        if plan is None:
            plan = _SHARED[shared] = compile_plan(chosen, purposes)
        _PLANS[key] = plan
    return plan


def delivery_purposes(runtime: Runtime, matching: tuple[MinimizationRule, ...],
                      purposes: frozenset[str]) -> dict[str, frozenset[str]]:
    """Per destination that gets its own payload, the purposes it is minimized for.

    In ``purposes.yaml`` order: the destinations that serve one of
    ``purposes`` and that a matching rule names. A name no destination
    defines never gets a payload.
    """
    named = {name for rule in matching for name in rule.destinations}
    if not named:
        return {}
    served = runtime.rules.purposes.destinations
    chosen = {}
    for destination, wanted in served.items():
        overlap = wanted & purposes
        if destination in named and overlap:
            chosen[destination] = frozenset(overlap)
    return chosen


def minimize_event(event: Event, decision: Decision, runtime: Runtime) -> MinimizedEvent:
    """The payload reduced to what ``decision.purposes`` need, per-destination
    deliveries, and the steps taken.

    Raises if a data key cannot be read or created (the caller then drops
    the event: minimization fails closed).
    """
    pseudonymizer = runtime.pseudonymizer
    keyring = Keyring(runtime.store, pseudonymizer.master_keys)
    minimizer = Minimizer(pseudonymizer.field, keyring.encrypter(event.subject_key),
                          pii_guard=redact)
    payload, actions = minimizer.apply(plan_for(runtime, event, decision.purposes),
                                       event.payload)
    matching = runtime.rules.minimization.matching(event.type, event.name)
    targets = delivery_purposes(runtime, matching, decision.purposes)
    if not targets:
        return MinimizedEvent(payload, actions)
    steps = list(actions)
    deliveries: dict[str, Any] = {}
    for destination, purposes in targets.items():
        plan = plan_for(runtime, event, purposes, destination)
        deliveries[destination], taken = minimizer.apply(plan, event.payload)
        steps.extend(FieldAction(f"{destination}:{step.path}", step.action, step.rule)
                     for step in taken)
    return MinimizedEvent(payload, tuple(steps), MappingProxyType(deliveries))
