"""Delivery targets bound to the destinations of ``purposes.yaml`` (``delivery:``).

A destination receives, for every forwarded event whose purposes it serves,
``outcome.deliveries[name]`` if the minimization rules made one for it, else
``outcome.event``. The ``jsonl`` target appends one line per event and
fsyncs before the batch that forwarded them commits: a crash before the
commit leaves those events unseen, so the SDK's retry (it got no 200) or a
re-run writes them again. At least once, in the order they were decided.

Only ``jsonl`` exists so far; targets that cross the network (``segment``,
``webhook``, ``postgres``) need a persistent outbox and are refused at load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.rules.model import PurposeRules
from cdp_plugin.types import Outcome

KINDS = ("jsonl",)


class JsonlTarget:
    """An append-only JSONL file; :meth:`write` returns once the lines are on disk
    (standard output cannot be fsynced, so there it is only flushed)."""

    def __init__(self, path: str | Path, stream: IO[str] | None = None) -> None:
        self.path = str(path)
        if stream is not None:
            self._stream, self._owned = stream, False
            return
        self._stream, self._owned = _append(path), True

    def write(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self._stream.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
            self._stream.write("\n")
        self._stream.flush()
        try:
            os.fsync(self._stream.fileno())
        except (OSError, ValueError, AttributeError):
            if self._owned:  # a file of ours that cannot be synced is a failure
                raise

    def close(self) -> None:
        if self._owned:
            self._stream.close()


def _append(path: str | Path) -> IO[str]:
    """``path`` opened for appending: a re-run must not empty what was delivered."""
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {path}: "
                          f"{error.strerror or type(error).__name__}") from None


def forwarded_to(outcomes: Iterable[Outcome], destination: str) -> list[Mapping[str, Any]]:
    """What ``destination`` receives of ``outcomes``, in order (see the module doc)."""
    sent = []
    for outcome in outcomes:
        if outcome.event is not None and destination in outcome.destinations:
            sent.append(outcome.deliveries.get(destination, outcome.event))
    return sent


def load_delivery(config: Config, rules: PurposeRules) -> dict[str, JsonlTarget]:
    """The configured targets by destination name; ConfigError names the key.

    Every name must be a destination of ``purposes.yaml``: a target bound to
    no destination would receive events for no stated purpose.
    """
    section = dict(config.delivery)
    targets: dict[str, JsonlTarget] = {}
    try:
        for name, spec in sorted(section.items()):
            where = f"delivery.{name}"
            if name not in rules.destinations:
                raise ConfigError(f"{where}: not a destination of purposes.yaml")
            if not isinstance(spec, Mapping):
                raise ConfigError(f"{where}: must be a mapping with a kind")
            kind = spec.get("kind")
            if kind not in KINDS:
                raise ConfigError(f"{where}.kind: {kind!r} is not available; "
                                  f"one of {', '.join(KINDS)}")
            unknown = sorted(set(spec) - {"kind", "path"})
            if unknown:
                raise ConfigError(f"{where}.{unknown[0]}: unknown key")
            path = spec.get("path")
            if not isinstance(path, str) or not path:
                raise ConfigError(f"{where}.path: required, a file path")
            targets[name] = JsonlTarget(path)
    except ConfigError:
        for target in targets.values():
            target.close()
        raise
    return targets
