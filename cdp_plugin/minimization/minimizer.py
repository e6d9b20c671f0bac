"""Applying a compiled plan to a payload: one walk, each field kept, changed or dropped.

Semantics (documented in ``rules/minimization.yaml``), beside those of
:mod:`cdp_plugin.minimization.plan`:

* An action on a mapping or list applies to it whole only where no rule
  names a path inside it; otherwise the walk goes inside.
* A value the action cannot handle (``truncate`` on something that is not
  an IP, ``generalize`` on a value of the wrong kind, ``encrypt`` without a
  keyring) is dropped, and the summary says ``drop`` for its path.
* A JSON ``null`` under any action but ``keep`` stays absent: hashing the
  text ``null`` would give every subject without that id one shared
  pseudonym (both Segment's and RudderStack's SDKs send
  ``"anonymousId": null``), which a downstream identity graph would merge.
* A kept ``messageId`` in which the guard finds personal data is replaced by
  its keyed hash rather than redacted, so events keep distinct ids downstream.
* With a guard, map keys are scanned like values: a kept key holding personal
  data is replaced by the guard's redaction (``redact`` in the summary), and
  summary paths (which reach the audit log) use the redaction too.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from typing import Any

from cdp_plugin.events import is_object
from cdp_plugin.minimization.generalize import generalize, generalize_part
from cdp_plugin.minimization.plan import Path, Plan, Resolved, Step, audit_path
from cdp_plugin.rules.model import ParamValue
from cdp_plugin.types import FieldAction

_DROPPED = object()

PiiGuard = Callable[[str], tuple[str, tuple[str, ...]]]
"""Redacts personal data in free text: returns the text with each match replaced by a
type marker, and the types found (empty when there were none)."""

Encrypt = Callable[[str, Any], str]
"""Encrypts one value of the event's subject at a field path (summary form) to a token."""

_Actions = dict[tuple[str, str], FieldAction]
_KEY_MEMO_LIMIT = 4096
_CLEAN_KEYS: dict[PiiGuard | None, set[str]] = {}
"""Per guard, the map keys it found clean, shared by every walk (each bounded); a
key with a finding is never kept, so the memo holds no personal data the guard knows of."""

# Kept identifiers that must stay unique: personal data in one is replaced by its
# keyed hash, not by the guard's marker.
_ID_PATHS: frozenset[tuple[str, ...]] = frozenset({("messageId",)})


def _clean_keys_of(guard: PiiGuard | None) -> set[str]:
    known = _CLEAN_KEYS.get(guard)
    if known is None:
        if len(_CLEAN_KEYS) >= 8:  # guards are few (one in production): stay bounded
            _CLEAN_KEYS.clear()
        known = _CLEAN_KEYS[guard] = set()
    return known


class Minimizer:
    """Applies a plan to a payload.

    ``hash_value`` makes keyed pseudonyms. ``encrypt_value`` encrypts a value
    of the event's subject (see :meth:`cdp_plugin.keys.keyring.Keyring.encrypter`);
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
        self._clean_keys = _clean_keys_of(pii_guard)

    def apply(self, plan: Plan, payload: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                      tuple[FieldAction, ...]]:
        """The minimized payload and the actions taken (paths, never values).

        Raises whatever ``encrypt_value`` or ``pii_guard`` raise; the caller
        fails closed.
        """
        actions: _Actions = {}
        result = self._walk_mapping(plan, payload, plan.root(), actions)
        return (result if isinstance(result, dict) else {}), tuple(actions.values())

    def _walk_mapping(self, plan: Plan, value: Mapping[str, Any], parent: Resolved,
                      actions: _Actions) -> Any:
        out: dict[str, Any] = {}
        children, child, guard = parent.children, plan.child, self._guard
        clean_keys = self._clean_keys
        for key, item in value.items():
            here = children.get(key) or child(parent, key)
            if here.drops:  # the commonest case, inline: what _act does for a drop
                if here.drop_key not in actions:
                    actions[here.drop_key] = here.record("drop", here.step.rule)
                continue
            if here.deeper or here.step.action != "keep":
                kept = (self._walk_mapping(plan, item, here, actions)
                        if here.deeper and item.__class__ is dict
                        else self._walk(plan, item, here, actions))
                if kept is _DROPPED:
                    continue
            elif guard is None or not here.scan:
                out[key] = item  # a kept leaf no guard looks at: the common case, inline
                continue
            elif item.__class__ is str and key in clean_keys and not guard(item)[1]:
                # The next most common case, inline: a kept clean string under a
                # key already found clean.
                out[key] = item
                continue
            else:
                kept = self._guarded(item, here.path, here.step, actions)
            self._put(out, key, kept, here, actions)
        return out if out or not value else _DROPPED

    def _put(self, out: dict[str, Any], key: str, value: Any, here: Resolved,
             actions: _Actions) -> None:
        """Set ``out[key]``, with the key redacted if it holds personal data."""
        safe = self._safe_key(key, here.scan)
        if safe != key:
            actions.setdefault((here.dotted, "redact"), here.record("redact", here.step.rule))
            while safe in out:  # two redacted keys must not overwrite each other
                safe += "~"
        out[safe] = value

    def _safe_key(self, key: str, scan: bool) -> str:
        if self._guard is None or not scan or key in self._clean_keys:
            return key
        safe = self._guard(key)[0]
        if safe == key:
            if len(self._clean_keys) >= _KEY_MEMO_LIMIT:  # keys are client text: stay bounded
                self._clean_keys.clear()
            self._clean_keys.add(key)
        return safe

    def _walk(self, plan: Plan, value: Any, here: Resolved, actions: _Actions) -> Any:
        if here.deeper and is_object(value):
            return self._walk_mapping(plan, value, here, actions)
        if here.deeper and isinstance(value, list):
            item = plan.child(here, "*")
            items = [self._walk(plan, entry, item, actions) for entry in value]
            kept = [entry for entry in items if entry is not _DROPPED]
            return kept if kept or not value else _DROPPED
        step = here.step
        if step.action == "keep":
            if self._guard is None or not here.scan:
                return value
            return self._guarded(value, here.path, step, actions)
        return self._act(value, step, here, actions)

    def _act(self, value: Any, step: Step, here: Resolved, actions: _Actions) -> Any:
        action = step.action
        if value is None and action != "drop":
            return _DROPPED  # absent stays absent; nothing was taken, nothing to record
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
            if found and path in _ID_PATHS:
                # Redacting an id would give many events one id downstream.
                actions.setdefault((path[0], "hash"), FieldAction(path[0], "hash", step.rule))
                return self._hash(value)
            if found:
                dotted = audit_path(path)
                actions.setdefault((dotted, "redact"), FieldAction(dotted, "redact", step.rule))
                return redacted
            return value
        if is_object(value):
            out: dict[str, Any] = {}
            for key, item in value.items():
                item_path = (*path, key)
                kept = self._guarded(item, item_path, step, actions)
                safe = self._safe_key(key, True)
                if safe != key:
                    dotted = audit_path(item_path)
                    actions.setdefault((dotted, "redact"),
                                       FieldAction(dotted, "redact", step.rule))
                    while safe in out:
                        safe += "~"
                out[safe] = kept
            return out
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
