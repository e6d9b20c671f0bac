"""Property: no field path outside the policy survives minimization (cdp_plugin.minimization).

The oracle is written from the text of ``rules/minimization.yaml`` (read here
with plain YAML, not through the rules loader), following the semantics its
header states:

* every rule whose ``match`` selects the message applies, except that a rule
  with ``destinations`` shapes only those destinations' deliveries; under each
  granted purpose a dotted path, with ``*`` for any list index or map key, names
  an action;
* within one purpose the most specific (longest) matching path governs a field,
  and a named container governs its whole subtree;
* across the granted purposes the most permissive action wins, ``keep`` first,
  then any transforming action, then ``drop``;
* a field no granted purpose names is dropped while every matching rule is an
  allowlist.

So a path may appear in the output only if its governing action is not
``drop``, or it is a container on the way to a path a granted purpose names.
Every value at a ``keep`` path comes out unchanged, with the PII guard on:
leaf strings are letters only, so it has no reason to touch them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin.minimization.minimizer import Minimizer
from cdp_plugin.minimization.pii_guard import redact
from cdp_plugin.minimization.plan import compile_plan, rules_for
from cdp_plugin.rules.loader import load_rules
from tests.conftest import RULES_DIR

Path = tuple[str, ...]
KEEP, TRANSFORM, DROP = "keep", "transform", "drop"
_RANK = {DROP: 0, TRANSFORM: 1, KEEP: 2}

RULES = load_rules(RULES_DIR)
POLICY: dict[str, Any] = yaml.safe_load((RULES_DIR / "minimization.yaml").read_text("utf-8"))
PURPOSES: list[str] = sorted(
    yaml.safe_load((RULES_DIR / "purposes.yaml").read_text("utf-8"))["purposes"]
)


def _action(spec: Any) -> str:
    name = spec if isinstance(spec, str) else spec["action"]
    return name if name in (KEEP, DROP) else TRANSFORM


def _segments(path: str) -> Path:
    return tuple(path.split("."))


NAMED_PATHS: list[Path] = sorted({
    _segments(path)
    for rule in POLICY["rules"]
    for fields in rule["purposes"].values()
    for path in fields
})
NAMED_KEYS: list[str] = sorted({segment for path in NAMED_PATHS for segment in path} - {"*"})
DESTINATIONS: list[str | None] = [None, *sorted({
    name for rule in POLICY["rules"] for name in rule.get("destinations") or ()})]
EVENT_NAMES = ["Product Viewed", "Product Added", "Product Removed", "Checkout Started",
               "Order Completed", "Email Opened", "Email Link Clicked", "Signed Up", "Home",
               "Settings", "Order Refunded"]


# -- the oracle ---------------------------------------------------------------------------------


class Oracle:
    """What the policy text allows for one message kind and one set of granted purposes."""

    def __init__(self, event_type: str, name: str | None, granted: frozenset[str],
                 destination: str | None = None) -> None:
        matching = [rule for rule in POLICY["rules"]
                    if _matches(rule.get("match") or {}, event_type, name)
                    and (not rule.get("destinations") or destination in rule["destinations"])]
        self.allowlist = all(rule.get("allowlist", True) for rule in matching)
        self.patterns: dict[str, list[tuple[Path, str]]] = {}
        for rule in matching:
            for purpose, fields in rule["purposes"].items():
                if purpose in granted:
                    self.patterns.setdefault(purpose, []).extend(
                        (_segments(path), _action(spec)) for path, spec in fields.items())

    def action(self, path: Path) -> str | None:
        """The action that governs ``path`` (list items as ``*``), or None if unnamed."""
        best: str | None = None
        for patterns in self.patterns.values():
            found = _governing(path, patterns)
            if found is not None and (best is None or _RANK[found] > _RANK[best]):
                best = found
        return best

    def on_the_way(self, path: Path) -> bool:
        """Whether a granted purpose names a path strictly below ``path``."""
        return any(len(pattern) > len(path) and _covers(pattern[:len(path)], path)
                   for patterns in self.patterns.values() for pattern, _ in patterns)

    def may_appear(self, path: Path, value: Any) -> bool:
        action = self.action(path)
        if action in (KEEP, TRANSFORM):
            return True
        if isinstance(value, dict | list) and self.on_the_way(path):
            return True
        return action is None and not self.allowlist


def _matches(match: Mapping[str, Any], event_type: str, name: str | None) -> bool:
    if "type" in match and match["type"] != event_type:
        return False
    if "event" in match:
        return name is not None and fnmatch.fnmatchcase(name, match["event"])
    return True


def _covers(pattern: Path, path: Path) -> bool:
    return len(pattern) == len(path) and all(p in ("*", part) for p, part in zip(pattern, path,
                                                                                   strict=True))


def _governing(path: Path, patterns: list[tuple[Path, str]]) -> str | None:
    """One purpose's action for ``path``: its longest pattern covering ``path`` or an
    ancestor of it (a named container keeps its subtree); ties go to the most permissive."""
    best: tuple[int, int] | None = None
    action: str | None = None
    for pattern, named in patterns:
        if len(pattern) <= len(path) and _covers(pattern, path[:len(pattern)]):
            score = (len(pattern), _RANK[named])
            if best is None or score > best:
                best, action = score, named
    return action


def _nodes(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) below the root, list items as ``*``."""
    children: Any = (value.items() if isinstance(value, dict)
                     else (("*", item) for item in value) if isinstance(value, list) else ())
    for key, child in children:
        yield (*path, key), child
        yield from _nodes(child, (*path, key))


def _leaves(value: Any) -> Iterator[tuple[Path, str]]:
    """(path, canonical JSON) of every scalar and every empty container."""
    for path, child in _nodes(value):
        if not isinstance(child, dict | list) or not child:
            yield path, json.dumps(child, sort_keys=True)


# -- random events ------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ _-"
leaves = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
          | st.floats(allow_nan=False, allow_infinity=False, width=32)
          | st.text(alphabet=_LETTERS, max_size=12))
keys = st.sampled_from(NAMED_KEYS) | st.text(alphabet="abcdefgxyz_", min_size=1, max_size=6) \
    | st.just("*")
trees = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _plant(payload: dict[str, Any], path: Path, value: Any, draw: Any) -> None:
    """Put ``value`` at a concrete place that ``path`` names, creating containers."""
    node: Any = payload
    for index, segment in enumerate(path):
        last = index == len(path) - 1
        if isinstance(node, list):
            if not node or draw(st.booleans()):
                node.append({})
            position = draw(st.integers(0, len(node) - 1))
            if last:
                node[position] = value
                return
            if not isinstance(node[position], dict | list):
                node[position] = {}
            node = node[position]
            continue
        key = draw(keys) if segment == "*" else segment
        if segment == "*" and draw(st.booleans()):
            # "*" also names list items: make this level a list.
            node[key] = node.get(key) if isinstance(node.get(key), list) else []
            node = node[key]
            continue
        if last:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict | list):
            child = node[key] = {}
        node = child


Event = tuple[str, str | None, frozenset[str], str | None, dict[str, Any]]


def _minimize(event_type: str, name: str | None, granted: frozenset[str],
              destination: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    """The implementation under test: one payload, as the pipeline shapes it."""
    rules = rules_for(RULES.minimization.matching(event_type, name), destination)
    plan = compile_plan(rules, granted)
    return Minimizer(_pseudonym, pii_guard=redact).apply(plan, payload)[0]


@st.composite
def events(draw: Any) -> Event:
    # Track messages are the ones most rules select, so they come up most often.
    event_type = draw(st.sampled_from(["track"] * 4 + ["page", "screen", "identify", "group",
                                                       "alias"]))
    name = draw(st.sampled_from(EVENT_NAMES)) if event_type in ("track", "page", "screen") \
        else None
    granted = draw(st.frozensets(st.sampled_from([*PURPOSES, "undeclared_purpose"])))
    destination = draw(st.sampled_from(DESTINATIONS))
    payload = draw(st.dictionaries(keys, trees, max_size=5))
    # Paths the selected rules name, where purposes can disagree, and now and then any path.
    selected = sorted({
        _segments(path)
        for rule in POLICY["rules"] if _matches(rule.get("match") or {}, event_type, name)
        for fields in rule["purposes"].values() for path in fields
    })
    for path in draw(st.lists(st.sampled_from(selected or NAMED_PATHS) | st.sampled_from(
            NAMED_PATHS), max_size=10)):
        # Now and then plant only a container on the way.
        cut = len(path) if draw(st.integers(0, 3)) else draw(st.integers(1, len(path)))
        _plant(payload, path[:cut], draw(trees), draw)
    return event_type, name, granted, destination, payload


def _pseudonym(text: str) -> str:
    return "k1:" + hashlib.sha256(text.encode()).hexdigest()[:16]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_no_path_outside_the_policy_survives_and_kept_values_are_unchanged(
    event: Event,
) -> None:
    event_type, name, granted, destination, payload = event
    original = json.loads(json.dumps(payload))

    minimized = _minimize(event_type, name, granted, destination, payload)

    oracle = Oracle(event_type, name, granted, destination)
    outside = [path for path, value in _nodes(minimized) if not oracle.may_appear(path, value)]
    assert outside == [], f"paths outside the policy survived: {outside}"
    kept = Counter(leaf for leaf in _leaves(original) if oracle.action(leaf[0]) == KEEP)
    missing = kept - Counter(_leaves(minimized))
    assert not missing, f"kept values changed or lost: {sorted(missing)}"
    assert payload == original  # the input is not modified


def _value_at(payload: Any, path: Path) -> Any:
    """The value at ``path`` (``*`` as the first list item), or ``_ABSENT``."""
    node = payload
    for segment in path:
        if isinstance(node, list) and segment == "*" and node:
            node = node[0]
        elif isinstance(node, dict) and segment in node:
            node = node[segment]
        else:
            return _ABSENT
    return node


_ABSENT = object()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["track"] * 4 + ["page", "screen", "identify", "group", "alias"]),
       st.sampled_from(EVENT_NAMES),
       st.frozensets(st.sampled_from(PURPOSES)),
       st.sampled_from(DESTINATIONS))
def test_every_named_path_gets_the_most_permissive_action(
    event_type: str, name: str, granted: frozenset[str], destination: str | None,
) -> None:
    """Plant every path the selected rules name, all at once, so purposes that
    disagree about a path meet in every example."""
    name_or_none = name if event_type in ("track", "page", "screen") else None
    oracle = Oracle(event_type, name_or_none, granted, destination)
    planted = sorted({path for patterns in oracle.patterns.values() for path, _ in patterns})
    payload: dict[str, Any] = {}
    for path in planted:
        node: Any = payload
        for segment, following in zip(path, (*path[1:], None), strict=True):
            if following is None:
                node[segment] = "value of " + " ".join(path).replace("*", "item")
            elif following == "*":
                if not isinstance(node.get(segment), list):
                    node[segment] = [{}]
                node = node[segment][0]
            elif segment != "*":
                if not isinstance(node.get(segment), dict):
                    node[segment] = {}
                node = node[segment]
    leaves_only = [path for path in planted
                   if not any(other[:len(path)] == path and other != path for other in planted)]

    minimized = _minimize(event_type, name_or_none, granted, destination, payload)

    for path in leaves_only:
        before, after = _value_at(payload, path), _value_at(minimized, path)
        action = oracle.action(path)
        if action == KEEP:
            assert after == before, path
        elif action == TRANSFORM:
            assert after != before, path  # changed, or dropped where it cannot apply
        else:
            assert after is _ABSENT, path


def test_the_oracle_reads_the_policy_as_documented() -> None:
    """A spot check of the oracle itself on the shipped rules."""
    oracle = Oracle("track", "Order Completed", frozenset({"necessary", "marketing"}))
    assert oracle.action(("properties", "order_id")) == KEEP  # necessary keeps, marketing hashes
    assert oracle.action(("properties", "products", "*", "product_id")) == KEEP
    assert oracle.action(("properties", "products", "*", "category")) is None
    assert oracle.action(("userId",)) == TRANSFORM
    assert oracle.action(("context", "ip")) == TRANSFORM
    assert oracle.on_the_way(("properties", "products"))
    assert not oracle.may_appear(("properties", "coupon"), "SPRING")
    assert oracle.may_appear(("properties", "products"), [])
    assert not oracle.may_appear(("properties", "products"), "a string, not a container")

    nothing = Oracle("identify", None, frozenset())
    assert nothing.patterns == {} and nothing.allowlist
    assert not nothing.may_appear(("traits",), {})


def test_an_unnamed_field_is_dropped_while_named_ones_stay() -> None:
    """One concrete event, so a failure here reads without hypothesis."""
    granted = frozenset({"necessary", "analytics"})
    payload = {"type": "page", "name": "Home", "messageId": "m-1",
               "properties": {"path": "/home", "url": "https://example.com/?email=x",
                              "secret": "s"},
               "context": {"ip": "203.0.113.9", "userAgent": "UA", "extra": {"a": 1}}}

    minimized = _minimize("page", "Home", granted, None, payload)

    assert minimized == {"type": "page", "name": "Home", "messageId": "m-1",
                         "properties": {"path": "/home"},
                         "context": {"ip": "203.0.113.0", "userAgent": "UA"}}
