"""Replaying one events file through two rule sets, each on throwaway storage.

:func:`replay` opens two pipelines, one on the old rules and one on the new,
each with its own SQLite store, development audit signing key and audit log
in one temporary directory, removed afterwards. Both use one master key
made for this replay, so the pseudonyms and keyed hashes of the two sides
compare, and neither can be linked to the deployment's: the deployment's
store, keys, audit log and delivery targets are never opened, and the key
environment variables are not read (``Pipeline.from_config(env={})``).

The file is read as ``cdp-plugin run`` reads it: one JSON message a line,
blank lines skipped, a line holding a Segment batch envelope expanded into
its normalized messages (normalized once, so both sides get the same
messages). A line that is not a valid event is an ``invalid`` outcome on
both sides. Preference updates are not part of that format (the demo
applies them beside the stream, not through the file), so the consent
ledgers stay empty: consent comes from the events themselves.

Time: both pipelines run on one replay clock, the latest event time read so
far (``timestamp``, else ``originalTimestamp``, ``sentAt``, ``receivedAt``,
as the pipeline dates an event), never later than the wall clock when the
replay began. So a file replays the same way whenever it is replayed, and
each event is decided as of its own time. After the last event both sides
apply time-based segment entries and exits once (``tick``) at that time.

Only the built-in stages run: plugins from entry points are not loaded,
since a third-party plugin may act outside the pipeline (an observer that
calls a service) and both sides would run it alike anyway. Blocked plugins,
quarantine limits and per-plugin settings are taken from the deployment's
configuration.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.gateway.envelope import jsonl_batch
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules.model import RuleSet
from cdp_plugin.segments.eligibility import is_eligible
from cdp_plugin.types import Outcome, SegmentChange

BATCH_SIZE = 500
_TIME_KEYS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


class EventsFileError(ConfigError):
    """The events file cannot be read: the message names the file, the line (when
    reading had begun) and the reason, never a line's content."""


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    """What the replay keeps of the deployment's configuration: only what shapes
    decisions. Store, keys, audit log, delivery and entry points are never taken."""

    blocked_plugins: tuple[str, ...] = ()
    quarantine_ttl_hours: float = 24.0
    quarantine_per_subject: int = 100
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> ReplaySettings:
        return cls(config.blocked_plugins, config.quarantine_ttl_hours,
                   config.quarantine_per_subject, config.plugins)


@dataclass(frozen=True, slots=True)
class ReplayedEvent:
    """One message and what each rule set decided for it.

    ``line`` is its 1-based line in the events file (a batch envelope's
    messages share their line); ``message`` its message pseudonym under the
    replay's key (None for a message without a usable ``messageId``).
    """

    line: int
    message: str | None
    old: Outcome
    new: Outcome


@dataclass(frozen=True, slots=True)
class ReplayEnd:
    """How the replay ended: the rule sets, the file's extent, and the
    time-based segment changes of the final tick on each side."""

    old_rules: RuleSet
    new_rules: RuleSet
    lines: int
    messages: int
    at: datetime | None
    old_ticked: tuple[SegmentChange, ...] = ()
    new_ticked: tuple[SegmentChange, ...] = ()
    old_eligible: Mapping[str, frozenset[str]] = field(default_factory=dict)
    new_eligible: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Per experiment of that side's rules, the subjects (with a profile) its
    eligibility admits at the end of the replay."""


class ReplayClock:
    """Now, for both pipelines: the latest event time seen, at most ``ceiling``
    (the wall clock when the replay began), and ``ceiling`` before any."""

    def __init__(self, ceiling: datetime) -> None:
        self.ceiling = ceiling
        self.latest: datetime | None = None

    def __call__(self) -> datetime:
        return self.latest or self.ceiling

    def advance(self, message: Mapping[str, Any] | bytes) -> None:
        """Move to the message's time if it is later (a message without a
        readable time leaves the clock where it is)."""
        at = _message_time(message)
        if at is not None:
            at = min(at, self.ceiling)
            if self.latest is None or at > self.latest:
                self.latest = at


def _message_time(message: Mapping[str, Any] | bytes) -> datetime | None:
    if isinstance(message, bytes):
        try:
            message = json.loads(message)
        except (ValueError, RecursionError):
            return None
    if not isinstance(message, Mapping):
        return None
    for key in _TIME_KEYS:
        value = message.get(key)
        if isinstance(value, str):
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                return None
            return at.astimezone(UTC) if at.utcoffset() is not None else None
    return None


def read_events(path: Path, received_at: datetime) -> Iterator[tuple[int, bytes | dict[str, Any]]]:
    """``(line number, message)`` for each message of the file, as ``cdp-plugin run``
    reads it (see the module doc); a message is the line's bytes, or a normalized
    dict for the messages of a batch envelope received at ``received_at``.

    Raises :class:`EventsFileError` if the file cannot be opened or a line
    cannot be read.
    """
    try:
        source: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise EventsFileError(f"events file {path}: cannot be opened: "
                              f"{error.strerror or type(error).__name__}") from None
    with source:
        yield from _numbered(source, path, received_at)


def _numbered(source: IO[bytes], path: Path, received_at: datetime
              ) -> Iterator[tuple[int, bytes | dict[str, Any]]]:
    """The messages of an open file with their line numbers (see :func:`read_events`)."""
    number = 0
    while True:
        try:
            line = source.readline()
        except OSError as error:
            raise EventsFileError(f"events file {path}: line {number + 1}: cannot be read: "
                                  f"{error.strerror or type(error).__name__}") from None
        if not line:
            return
        number += 1
        if not line.strip():
            continue
        messages = jsonl_batch(line, received_at)
        if messages is None:
            yield number, line
        else:
            for message in messages:
                yield number, message


def _scratch_config(root: Path, name: str, rules_dir: Path, key_file: Path,
                    settings: ReplaySettings) -> Config:
    return Config(
        data_dir=root / name / "data", audit_dir=root / name / "audits", rules_dir=rules_dir,
        store=str(root / name / "data" / "cdp.sqlite3"), worker_id=f"rules-diff-{name}",
        blocked_plugins=settings.blocked_plugins, load_entrypoints=False,
        master_key_file=key_file, audit_signing_key_file=None,
        quarantine_ttl_hours=settings.quarantine_ttl_hours,
        quarantine_per_subject=settings.quarantine_per_subject,
        audit_fsync=False, plugins=settings.plugins,
    )


def replay(old_dir: Path, new_dir: Path, events: Path,
           observe: Callable[[ReplayedEvent], None], *,
           settings: ReplaySettings | None = None, batch_size: int = BATCH_SIZE,
           now: datetime | None = None) -> ReplayEnd:
    """Replay ``events`` through the rules of ``old_dir`` and ``new_dir``, calling
    ``observe`` with each message's two outcomes in file order; return how it ended.

    ``now`` is the replay clock's ceiling (default: the wall clock). Raises
    ``RulesError`` if either rules directory is invalid, :class:`EventsFileError`
    if the file cannot be read, ``StorageError`` or ``AuditError`` if the
    temporary storage fails. Nothing outside the temporary directory is written.
    """
    settings = settings or ReplaySettings()
    clock = ReplayClock(now or datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="cdp-rules-diff-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        key_file = root / "master.key"
        key_file.write_text(base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
                            encoding="ascii")
        old, new = (stack.enter_context(Pipeline.from_config(
            _scratch_config(root, name, directory, key_file, settings), clock=clock, env={}))
            for name, directory in (("old", old_dir), ("new", new_dir)))
        lines = messages = 0
        batch: list[tuple[int, bytes | dict[str, Any]]] = []

        def flush() -> None:
            with old.unit_of_work(), new.unit_of_work():
                for number, message in batch:
                    clock.advance(message)
                    twin = copy.deepcopy(message) if isinstance(message, dict) else message
                    first, second = old.process(message), new.process(twin)
                    raw_id = first.message_id if first.message_id is not None \
                        else second.message_id
                    pseudonym = None if raw_id is None \
                        else old.runtime.pseudonymizer.message(raw_id)
                    observe(ReplayedEvent(number, pseudonym, first, second))
            batch.clear()

        for number, message in read_events(events, clock.ceiling):
            lines = number
            messages += 1
            batch.append((number, message))
            if len(batch) >= batch_size:
                flush()
        flush()
        at = clock.latest
        old_ticked = tuple(old.tick(at)) if at is not None else ()
        new_ticked = tuple(new.tick(at)) if at is not None else ()
        return ReplayEnd(old.runtime.rules, new.runtime.rules, lines, messages, at,
                         old_ticked, new_ticked, _eligible(old, at or clock.ceiling),
                         _eligible(new, at or clock.ceiling))


def _eligible(pipeline: Pipeline, at: datetime) -> dict[str, frozenset[str]]:
    """Per experiment of the pipeline's rules, the subjects with a profile that its
    eligibility (a segment, a condition, or none) admits at ``at``."""
    runtime = pipeline.runtime
    experiments = runtime.rules.experiments.experiments
    if not experiments:
        return {}
    store, segments = runtime.store, runtime.rules.segments
    subjects = [key for key, _ in store.iter_profiles()]
    return {experiment.name: frozenset(
                key for key in subjects
                if is_eligible(store, segments, experiment.eligibility, key, at))
            for experiment in experiments}
