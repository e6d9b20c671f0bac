"""Field policies compiled into plans: which path gets which action, and applying them.

Semantics (documented in ``rules/minimization.yaml``):

* Within one purpose, the most specific matching path wins: ``context: keep``
  with ``context.ip: truncate`` keeps ``context`` but truncates the IP.
* Across the granted purposes, the most permissive action wins
  (keep > truncate > hash > drop).
* A field no granted purpose names is dropped when any matching rule is an
  allowlist (the default), kept otherwise.

Plans are compiled once per (event type, name, granted purposes) and cached,
so the per-event work is one walk over the payload.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp_plugin.rules.model import FieldRule, MinimizationRule
from cdp_plugin.types import FieldAction

RANK = {"drop": 1, "hash": 2, "truncate": 3, "keep": 4}
ALLOWLIST_RULE = "allowlist"
_DROPPED = object()


@dataclass(frozen=True, slots=True)
class Step:
    """An action with its parameters and the rule that chose it."""

    action: str
    rule: str
    params: Mapping[str, int]


@dataclass(slots=True)
class _Node:
    step: Step | None = None
    children: dict[str, _Node] = field(default_factory=dict)

    def child(self, key: str) -> _Node:
        return self.children.setdefault(key, _Node())


def _better(a: Step | None, b: Step | None) -> Step | None:
    if a is None or (b is not None and RANK[b.action] > RANK[a.action]):
        return b
    return a


@dataclass(frozen=True, slots=True)
class Plan:
    """One trie per granted purpose, plus the default for unnamed fields."""

    roots: tuple[_Node, ...]
    default: Step


def compile_plan(rules: tuple[MinimizationRule, ...], purposes: frozenset[str]) -> Plan:
    """Merge the matching rules' field policies for the granted purposes."""
    tries: dict[str, _Node] = {}
    for rule in rules:
        for purpose, field_rules in rule.purposes.items():
            if purpose in purposes:
                root = tries.setdefault(purpose, _Node())
                for field_rule in field_rules:
                    _insert(root, field_rule, rule.name)
    allowlist = any(rule.allowlist for rule in rules) or not rules
    default = Step("drop" if allowlist else "keep", ALLOWLIST_RULE, {})
    return Plan(tuple(tries[p] for p in sorted(tries)), default)


def _insert(root: _Node, field_rule: FieldRule, rule_name: str) -> None:
    node = root
    for part in field_rule.path.split("."):
        node = node.child(part)
    node.step = _better(node.step, Step(field_rule.action, rule_name, field_rule.params))


class Minimizer:
    """Applies a plan to a payload; ``hash_value`` makes keyed pseudonyms."""

    def __init__(self, hash_value: Callable[[str], str]) -> None:
        self._hash = hash_value

    def apply(self, plan: Plan, payload: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                      tuple[FieldAction, ...]]:
        """The minimized payload and the actions taken (paths, never values)."""
        actions: dict[tuple[str, str], str] = {}
        states = tuple((root, None) for root in plan.roots)
        result = self._walk_mapping(payload, states, plan.default, "", actions)
        summary = tuple(FieldAction(path, action, rule) for (path, action), rule in actions.items())
        return (result if isinstance(result, dict) else {}), summary

    def _walk_mapping(self, value: Mapping[str, Any], states: tuple[tuple[_Node, Step | None], ...],
                      default: Step, path: str, actions: dict[tuple[str, str], str]) -> Any:
        out: dict[str, Any] = {}
        for key, item in value.items():
            kept = self._walk(item, key, states, default, f"{path}{key}", actions)
            if kept is not _DROPPED:
                out[key] = kept
        return out if out or not value else _DROPPED

    def _walk(self, value: Any, key: str, states: tuple[tuple[_Node, Step | None], ...],
              default: Step, path: str, actions: dict[tuple[str, str], str]) -> Any:
        child_states = []
        deeper = False
        for node, inherited in states:
            for child in (node.children.get(key), node.children.get("*")):
                if child is not None:
                    child_states.append((child, child.step or inherited))
                    deeper = deeper or bool(child.children)
            if not any(c in node.children for c in (key, "*")):
                child_states.append((_LEAF, inherited))
        if deeper and isinstance(value, Mapping):
            return self._walk_mapping(value, tuple(child_states), default, path + ".", actions)
        if deeper and isinstance(value, list):
            items = [self._walk(item, "*", tuple(child_states), default, f"{path}.*", actions)
                     for item in value]
            kept = [item for item in items if item is not _DROPPED]
            return kept if kept or not value else _DROPPED
        step: Step | None = None
        for _, effective in child_states:
            step = _better(step, effective)
        return self._act(value, step or default, path, actions)

    def _act(self, value: Any, step: Step, path: str,
             actions: dict[tuple[str, str], str]) -> Any:
        action = step.action
        if action == "keep":
            return value
        result: Any = _DROPPED
        if action == "hash":
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            result = self._hash(text)
        elif action == "truncate":
            result = truncate_ip(value, step.params)
            if result is None:
                result, action = _DROPPED, "drop"
        actions.setdefault((path, action), step.rule)
        return result


_LEAF = _Node()


def truncate_ip(value: Any, params: Mapping[str, int]) -> str | None:
    """The network address of ``value`` (IPv4 /24, IPv6 /48 by default), or None if not an IP."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    prefix = params.get("ipv4_prefix", 24) if address.version == 4 else params.get(
        "ipv6_prefix", 48)
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
