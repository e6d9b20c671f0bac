"""Field policies compiled into plans: which path gets which action.

Semantics (documented in ``rules/minimization.yaml``):

* Within one purpose, the most specific matching path wins: ``context: keep``
  with ``context.ip: truncate`` keeps ``context`` but truncates the IP.
* Across the granted purposes, the most permissive action wins:
  keep > encrypt > generalize > truncate > hash > drop
  (:data:`cdp_plugin.rules.model.PERMISSIVENESS`).
* A field no granted purpose names is dropped when any of the rules is an
  allowlist (the default), kept otherwise.

How a plan is applied to a payload is :mod:`cdp_plugin.minimization.minimizer`.
Plans are compiled once per (event kind, granted purposes, destination) and
cached by the caller, so the per-event work is one walk over the payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cdp_plugin.minimization.pii_guard import redact
from cdp_plugin.rules.model import PERMISSIVENESS, FieldRule, MinimizationRule, ParamValue
from cdp_plugin.types import FieldAction

RANK = {action: rank for rank, action in enumerate(PERMISSIVENESS, start=1)}
ALLOWLIST_RULE = "allowlist"


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

    :meth:`child` answers, per concrete path (list items as ``*``), which step
    applies to a leaf there, whether any rule names something deeper, and the
    summary entry for each action taken there. The answers form a tree of
    :class:`Resolved` nodes that a walk descends key by key, so events of one
    kind cost a dict lookup per field and no path is built or hashed.
    """

    roots: tuple[_Node, ...]
    default: Step
    _root: Resolved | None = None
    _size: int = 0

    def root(self) -> Resolved:
        """The node of the payload itself (the empty path)."""
        if self._root is None:
            self._root = self.resolve(())
            self._size = 0
        return self._root

    def child(self, parent: Resolved, key: str) -> Resolved:
        """The node of ``key`` inside ``parent`` (``*`` for a list item)."""
        known = parent.children.get(key)
        if known is not None:
            return known
        if self._size >= _MEMO_LIMIT:  # payload keys are untrusted: stay bounded
            # Walks in progress keep the nodes they hold; the next walk starts afresh.
            self._root = None
        else:
            self._size += 1
        known = parent.children[key] = self.resolve((*parent.path, key))
        return known

    def resolve(self, path: Path) -> Resolved:
        """What the plan says about ``path``, computed afresh (see :meth:`child`)."""
        step: Step | None = None
        deeper = False
        for root in self.roots:
            purpose_step, purpose_deeper = _resolve_in(root, path)
            step = _better(step, purpose_step)
            deeper = deeper or purpose_deeper
        return Resolved(step or self.default, deeper, audit_path(path), path)


def audit_path(path: Path) -> str:
    """``path`` dotted for the summary and the audit log, with each part that holds
    personal data (a client's map key such as an email address) replaced by the
    guard's marker: the append-only audit log can never be erased."""
    parts = [redact(part)[0] for part in path]
    return ".".join(parts)


@dataclass(slots=True)
class Resolved:
    """What a plan says about one path, and the summary entries made there (built once).

    ``scan`` tells whether a kept value here passes through the personal-data
    guard (``pii_scan: 0`` exempts it); ``drops`` that whatever is here is
    dropped whole (no rule names a path inside it), the commonest case of a walk,
    whose summary key is ``drop_key``.
    """

    step: Step
    deeper: bool
    dotted: str
    path: Path
    scan: bool = field(init=False)
    drops: bool = field(init=False)
    drop_key: tuple[str, str] = field(init=False)
    children: dict[str, Resolved] = field(default_factory=dict)
    _records: dict[str, FieldAction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scan = self.step.params.get("pii_scan", 1) != 0
        self.drops = not self.deeper and self.step.action == "drop"
        self.drop_key = (self.dotted, "drop")

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
