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

import json
import socket
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


Path = tuple[str, ...]
_MEMO_LIMIT = 50_000


@dataclass(slots=True)
class Plan:
    """One trie per granted purpose, plus the default for unnamed fields.

    ``resolve`` answers, per concrete path (list items as ``*``), which step
    applies to a leaf there and whether any rule names something deeper; the
    answers are memoized, so events of one kind cost a dict lookup per field.
    """

    roots: tuple[_Node, ...]
    default: Step
    _memo: dict[Path, tuple[Step, bool]] = field(default_factory=dict)

    def resolve(self, path: Path) -> tuple[Step, bool]:
        known = self._memo.get(path)
        if known is not None:
            return known
        step: Step | None = None
        deeper = False
        for root in self.roots:
            purpose_step, purpose_deeper = _resolve_in(root, path)
            step = _better(step, purpose_step)
            deeper = deeper or purpose_deeper
        answer = (step or self.default, deeper)
        if len(self._memo) >= _MEMO_LIMIT:  # payload keys are untrusted: stay bounded
            self._memo.clear()
        self._memo[path] = answer
        return answer


def _resolve_in(root: _Node, path: Path) -> tuple[Step | None, bool]:
    """The most specific step one purpose gives ``path``, and whether it names deeper paths."""
    states: list[tuple[_Node | None, Step | None]] = [(root, None)]
    for part in path:
        following: list[tuple[_Node | None, Step | None]] = []
        for node, inherited in states:
            matched = [] if node is None else [
                c for c in (node.children.get(part), node.children.get("*")) if c is not None]
            following.extend((c, c.step or inherited) for c in matched)
            if not matched:
                following.append((None, inherited))
        states = following
    step: Step | None = None
    for _, inherited in states:
        step = _better(step, inherited)
    return step, any(node is not None and node.children for node, _ in states)


def compile_plan(rules: tuple[MinimizationRule, ...], purposes: frozenset[str]) -> Plan:
    """Merge the matching rules' field policies for the granted purposes."""
    tries: dict[str, _Node] = {}
    for rule in rules:
        for purpose, field_rules in rule.purposes.items():
            if purpose in purposes:
                root = tries.setdefault(purpose, _Node())
                for field_rule in field_rules:
                    _insert(root, field_rule, rule.name)
    allowlist = all(rule.allowlist for rule in rules)
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
        result = self._walk_mapping(plan, payload, (), actions)
        summary = tuple(FieldAction(path, action, rule) for (path, action), rule in actions.items())
        return (result if isinstance(result, dict) else {}), summary

    def _walk_mapping(self, plan: Plan, value: Mapping[str, Any], prefix: Path,
                      actions: dict[tuple[str, str], str]) -> Any:
        out: dict[str, Any] = {}
        for key, item in value.items():
            kept = self._walk(plan, item, (*prefix, key), actions)
            if kept is not _DROPPED:
                out[key] = kept
        return out if out or not value else _DROPPED

    def _walk(self, plan: Plan, value: Any, path: Path,
              actions: dict[tuple[str, str], str]) -> Any:
        step, deeper = plan.resolve(path)
        if deeper and isinstance(value, Mapping):
            return self._walk_mapping(plan, value, path, actions)
        if deeper and isinstance(value, list):
            item_path = (*path, "*")
            items = [self._walk(plan, item, item_path, actions) for item in value]
            kept = [item for item in items if item is not _DROPPED]
            return kept if kept or not value else _DROPPED
        if step.action == "keep":
            return value
        return self._act(value, step, ".".join(path), actions)

    def _act(self, value: Any, step: Step, path: str,
             actions: dict[tuple[str, str], str]) -> Any:
        action = step.action
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


def truncate_ip(value: Any, params: Mapping[str, int]) -> str | None:
    """The network address of ``value`` (IPv4 /24, IPv6 /48 by default), or None if not an IP."""
    if not isinstance(value, str):
        return None
    for family, default_prefix, name in ((socket.AF_INET, 24, "ipv4_prefix"),
                                         (socket.AF_INET6, 48, "ipv6_prefix")):
        try:
            packed = socket.inet_pton(family, value.strip())
        except (OSError, ValueError):
            continue
        prefix = params.get(name, default_prefix)
        bits = int.from_bytes(packed, "big")
        width = len(packed) * 8
        mask = ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1)
        return socket.inet_ntop(family, (bits & mask).to_bytes(len(packed), "big"))
    return None
