"""What one destination receives of one forwarded event, as field paths and actions.

A forwarded :class:`~cdp_plugin.types.Outcome` carries a generic payload
(``event``) and, for destinations with rules of their own, a payload each
(``deliveries``); its ``minimization`` summary lists the generic payload's
steps by path and each delivery's as ``<destination>:<path>``.
:func:`field_view` puts the two together for one destination: every field
path the destination receives, with the action that produced it, and every
path the rules dropped.

Paths are dotted, with ``*`` for list items, and each part passes the
personal-data guard as in the audit log's summaries (a client's map key
holding an email address shows as its marker). Values are never read beyond
their shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cdp_plugin.minimization.pii_guard import redact
from cdp_plugin.types import Outcome

DROP = "drop"
KEEP = "keep"
ABSENT = "absent"
"""The state of a path a payload neither carries nor names as dropped."""


@lru_cache(maxsize=4096)
def _part(key: str) -> str:
    return redact(key)[0]


def _leaves(value: Any, prefix: str, out: set[str]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            part = _part(str(key))
            _leaves(item, f"{prefix}.{part}" if prefix else part, out)
    elif isinstance(value, list) and value:
        for item in value:
            _leaves(item, f"{prefix}.*" if prefix else "*", out)
    elif prefix:
        out.add(prefix)


def _steps(outcome: Outcome, destination: str) -> dict[str, set[str]]:
    """The summary's actions by path for the payload ``destination`` receives."""
    own = destination in outcome.deliveries
    prefix = f"{destination}:"
    others = tuple(f"{name}:" for name in outcome.deliveries)
    steps: dict[str, set[str]] = {}
    for action, paths in outcome.minimization.items():
        for path in paths:
            if own and path.startswith(prefix):
                steps.setdefault(path[len(prefix):], set()).add(action)
            elif not own and not path.startswith(others):
                steps.setdefault(path, set()).add(action)
    return steps


def _ancestors(path: str) -> list[str]:
    """``path`` and each path above it, nearest first."""
    parts = path.split(".")
    return [".".join(parts[:end]) for end in range(len(parts), 0, -1)]


def field_view(outcome: Outcome, destination: str) -> dict[str, str]:
    """Field path → action for what ``destination`` receives of a forwarded event.

    A path sent gets the action recorded at it or at the nearest path above
    it (``hash``, ``truncate``, ``generalize``, ``encrypt``, ``redact``;
    several joined by ``+``), else ``keep``. A path the rules dropped and
    nothing is sent under gets ``drop``. Empty for an outcome that was not
    forwarded.
    """
    if not outcome.forwarded or outcome.event is None:
        return {}
    payload = outcome.deliveries.get(destination, outcome.event)
    steps = _steps(outcome, destination)
    sent: set[str] = set()
    _leaves(payload, "", sent)
    view: dict[str, str] = {}
    for path in sent:
        action = KEEP
        for above in _ancestors(path):
            taken = steps.get(above, set()) - {DROP}
            if taken:
                action = "+".join(sorted(taken))
                break
        view[path] = action
    under = {above for path in sent for above in _ancestors(path)}
    for path, actions in steps.items():
        if DROP in actions and path not in under:
            view[path] = DROP
    return view


def state_of(view: Mapping[str, str], path: str) -> str:
    """What ``view`` says of ``path``: its action if sent, ``drop`` if it or a path
    above it was dropped, else ``absent``."""
    found = view.get(path)
    if found is not None:
        return found
    for above in _ancestors(path)[1:]:
        if view.get(above) == DROP:
            return DROP
    return ABSENT
