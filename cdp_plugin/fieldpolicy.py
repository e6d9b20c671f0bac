"""Field policies compiled into plans: which path gets which action, and applying them.

Semantics (documented in ``rules/minimization.yaml``):

* Within one purpose, the most specific matching path wins: ``context: keep``
  with ``context.ip: truncate`` keeps ``context`` but truncates the IP.
* Across the granted purposes, the most permissive action wins:
  keep > encrypt > generalize > truncate > hash > drop
  (:data:`cdp_plugin.rules.model.PERMISSIVENESS`).
* A field no granted purpose names is dropped when any of the rules is an
  allowlist (the default), kept otherwise.
* An action on a mapping or list applies to it whole only where no rule
  names a path inside it; otherwise the walk goes inside.
* A value the action cannot handle (``truncate`` on something that is not
  an IP, ``generalize`` on a value of the wrong kind, ``encrypt`` without a
  keyring) is dropped, and the summary says ``drop`` for its path.

Plans are compiled once per (event kind, granted purposes, destination) and
cached by the caller, so the per-event work is one walk over the payload.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp_plugin.generalize import generalize, generalize_part
from cdp_plugin.rules.model import PERMISSIVENESS, FieldRule, MinimizationRule, ParamValue
from cdp_plugin.types import FieldAction

RANK = {action: rank for rank, action in enumerate(PERMISSIVENESS, start=1)}
ALLOWLIST_RULE = "allowlist"
_DROPPED = object()

PiiGuard = Callable[[str], tuple[str, tuple[str, ...]]]
"""Redacts personal data in free text: returns the text with each match replaced by a
type marker, and the types found (empty when there were none)."""

Encrypt = Callable[[str, Any], str]
"""Encrypts one value of the event's subject at a field path (summary form) to a token."""


@dataclass(frozen=True, slots=True)
class Step:
    """An action with its parameters, the rule that chose it, and how many path
    segments the rule's field path has (0 for the default of unnamed fields)."""

    action: str
    rule: str
    params: Mapping[str, ParamValue]
    depth: int = 0


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
    applies to a leaf there, whether any rule names something deeper, and the
    summary entry for each action taken there; the answers are memoized, so
    events of one kind cost a dict lookup per field.
    """

    roots: tuple[_Node, ...]
    default: Step
    _memo: dict[Path, _Resolved] = field(default_factory=dict)

    def resolve(self, path: Path) -> _Resolved:
        known = self._memo.get(path)
        if known is not None:
            return known
        step: Step | None = None
        deeper = False
        for root in self.roots:
            purpose_step, purpose_deeper = _resolve_in(root, path)
            step = _better(step, purpose_step)
            deeper = deeper or purpose_deeper
        answer = _Resolved(step or self.default, deeper, ".".join(path), path)
        if len(self._memo) >= _MEMO_LIMIT:  # payload keys are untrusted: stay bounded
            self._memo.clear()
        self._memo[path] = answer
        return answer


@dataclass(slots=True)
class _Resolved:
    """What a plan says about one path, and the summary entries made there (built once)."""

    step: Step
    deeper: bool
    dotted: str
    path: Path
    _records: dict[str, FieldAction] = field(default_factory=dict)

    def record(self, action: str, rule: str) -> FieldAction:
        """The summary entry for ``action`` taken at this path."""
        found = self._records.get(action)
        if found is None or found.rule != rule:
            found = self._records[action] = FieldAction(self.dotted, action, rule)
        return found


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


def rules_for(rules: Iterable[MinimizationRule],
              destination: str | None = None) -> tuple[MinimizationRule, ...]:
    """The rules that shape one payload: those without ``destinations``, plus, for a
    destination's delivery, the rules naming that destination."""
    return tuple(rule for rule in rules
                 if not rule.destinations or destination in rule.destinations)


def compile_plan(rules: tuple[MinimizationRule, ...], purposes: frozenset[str]) -> Plan:
    """Merge the given rules' field policies for the granted purposes.

    The caller chooses the rules (see :func:`rules_for`); ``destinations`` is
    not looked at here.
    """
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
    node.step = _better(node.step, Step(field_rule.action, rule_name, field_rule.params,
                                        len(field_rule.path.split("."))))


_Actions = dict[tuple[str, str], FieldAction]


class Minimizer:
    """Applies a plan to a payload.

    ``hash_value`` makes keyed pseudonyms. ``encrypt_value`` encrypts a value
    of the event's subject (see :meth:`cdp_plugin.keyring.Keyring.encrypter`);
    without it, fields to encrypt are dropped. ``pii_guard`` is the
    integration point for personal-data detection: when given, every string
    that is kept (alone or inside a kept mapping or list) passes through it,
    and a string it changes is replaced and recorded as ``redact``.
    """

    def __init__(self, hash_value: Callable[[str], str], encrypt_value: Encrypt | None = None,
                 pii_guard: PiiGuard | None = None) -> None:
        self._hash = hash_value
        self._encrypt = encrypt_value
        self._guard = pii_guard

    def apply(self, plan: Plan, payload: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                      tuple[FieldAction, ...]]:
        """The minimized payload and the actions taken (paths, never values).

        Raises whatever ``encrypt_value`` or ``pii_guard`` raise; the caller
        fails closed.
        """
        actions: _Actions = {}
        result = self._walk_mapping(plan, payload, (), actions)
        return (result if isinstance(result, dict) else {}), tuple(actions.values())

    def _walk_mapping(self, plan: Plan, value: Mapping[str, Any], prefix: Path,
                      actions: _Actions) -> Any:
        out: dict[str, Any] = {}
        for key, item in value.items():
            kept = self._walk(plan, item, (*prefix, key), actions)
            if kept is not _DROPPED:
                out[key] = kept
        return out if out or not value else _DROPPED

    def _walk(self, plan: Plan, value: Any, path: Path, actions: _Actions) -> Any:
        here = plan.resolve(path)
        if here.deeper and isinstance(value, Mapping):
            return self._walk_mapping(plan, value, path, actions)
        if here.deeper and isinstance(value, list):
            item_path = (*path, "*")
            items = [self._walk(plan, item, item_path, actions) for item in value]
            kept = [item for item in items if item is not _DROPPED]
            return kept if kept or not value else _DROPPED
        step = here.step
        if step.action == "keep":
            if self._guard is None or step.params.get("pii_scan", 1) == 0:
                return value
            return self._guarded(value, path, step, actions)
        return self._act(value, step, here, actions)

    def _act(self, value: Any, step: Step, here: _Resolved, actions: _Actions) -> Any:
        action = step.action
        result: Any = _DROPPED
        if action == "hash":
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            result = self._hash(text)
        elif action == "truncate":
            result = truncate_ip(value, step.params)
        elif action == "generalize" and len(here.path) > step.depth:
            # The walk went inside the value the rule names (another rule names a
            # path within it): judge this part by where it sits in the whole.
            result = generalize_part(here.path[step.depth:], value, step.params)
        elif action == "generalize":
            result = generalize(value, step.params)
        elif action == "encrypt" and self._encrypt is not None:
            result = self._encrypt(here.dotted, value)
        if result is None or (result is _DROPPED and action != "drop"):
            result, action = _DROPPED, "drop"
        if (here.dotted, action) not in actions:
            actions[here.dotted, action] = here.record(action, step.rule)
        return result

    def _guarded(self, value: Any, path: Path, step: Step, actions: _Actions) -> Any:
        """``value`` with personal data in its strings redacted by the guard."""
        assert self._guard is not None
        if isinstance(value, str):
            redacted, found = self._guard(value)
            if found:
                dotted = ".".join(path)
                actions.setdefault((dotted, "redact"), FieldAction(dotted, "redact", step.rule))
                return redacted
            return value
        if isinstance(value, Mapping):
            return {key: self._guarded(item, (*path, key), step, actions)
                    for key, item in value.items()}
        if isinstance(value, list):
            item_path = (*path, "*")
            return [self._guarded(item, item_path, step, actions) for item in value]
        return value


def truncate_ip(value: Any, params: Mapping[str, ParamValue]) -> str | None:
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
        if not isinstance(prefix, int):
            return None
        bits = int.from_bytes(packed, "big")
        width = len(packed) * 8
        mask = ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1)
        return socket.inet_ntop(family, (bits & mask).to_bytes(len(packed), "big"))
    return None
