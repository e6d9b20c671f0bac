"""Find, read and verify the audit logs under a directory, for the governance report.

:func:`find_logs` lists the log directories, :func:`read_log` streams one
log's records into a :class:`~cdp_plugin.audit.report.ReportAggregator` line
by line (never keeping them), :func:`verify_with` checks a log against the
verifier keys and :func:`claimed_origin` reads the origin a log claims.
:func:`cdp_plugin.audit.report.build_report` puts them together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.layout import (
    CHECKPOINT_LATEST,
    CHECKPOINTS_LOG,
    list_segments,
    read_checkpoint_log,
)
from cdp_plugin.audit.note import NoteError, NoteVerifier, note_text, parse_checkpoint
from cdp_plugin.audit.verify import verify_log
from cdp_plugin.errors import ConfigError

if TYPE_CHECKING:
    # Only for the annotation: report.py imports this module, so a runtime import would cycle.
    from cdp_plugin.audit.report import ReportAggregator

_READ_BUFFER = 1 << 20
# raw_decode skips json.loads' type and whitespace handling: a record line is one object.
_decode = json.JSONDecoder().raw_decode


@dataclass(slots=True)
class _LogTally:
    records: int = 0
    unreadable: int = 0
    first_ts: str | None = None
    last_ts: str | None = None


def find_logs(directory: Path) -> list[Path]:
    """The log directories under ``directory``, or ``directory`` itself if it is one log.

    Raises :class:`ConfigError` if ``directory`` is not a directory or holds no log.
    """
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory")
    if _is_log(directory):
        return [directory]
    logs = sorted(p for p in directory.iterdir() if p.is_dir() and _is_log(p))
    if not logs:
        raise ConfigError(f"{directory} holds no audit log (no segment or checkpoint files)")
    return logs


def _is_log(path: Path) -> bool:
    return (path / CHECKPOINTS_LOG).exists() or any(path.glob("segment-*.jsonl"))


def claimed_origin(log_dir: Path) -> str | None:
    """The origin line of the log's newest checkpoint, unverified; ``None`` if unreadable."""
    latest = log_dir / CHECKPOINT_LATEST
    if latest.exists():
        note = latest.read_bytes()
    else:
        notes = read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]
        if not notes:
            return None
        note = notes[-1]
    try:
        return parse_checkpoint(note_text(note.decode())).origin
    except (NoteError, UnicodeDecodeError):
        return None


def _segment_files(log_dir: Path) -> tuple[list[Path], str | None]:
    try:
        return list_segments(log_dir), None
    except ValueError as exc:  # still report what is there; the problem is listed with the log
        return sorted(log_dir.glob("segment-*.jsonl")), str(exc)


def read_log(log_dir: Path, aggregator: ReportAggregator, name: str) -> dict[str, Any]:
    """Feed every record of one log to ``aggregator``; return what was read from it.

    A line that is not a JSON object (a torn last line after a crash, or
    damage) is counted as unreadable and skipped. Raises ``OSError`` if a
    file cannot be read.
    """
    tally = _LogTally()
    paths, problem = _segment_files(log_dir)
    add = aggregator.add
    for path in paths:
        with path.open("rb", buffering=_READ_BUFFER) as stream:
            for raw in stream:
                try:
                    text = raw.decode()
                    record, end = _decode(text)
                    if not text[end:].isspace():  # a torn line has no newline after it
                        record = None
                except (ValueError, RecursionError):  # includes UnicodeDecodeError
                    record = None
                if type(record) is not dict:
                    tally.unreadable += 1
                    continue
                tally.records += 1
                if add(record, name) is not None:
                    ts = record["ts"]
                    if tally.first_ts is None or ts < tally.first_ts:
                        tally.first_ts = ts
                    if tally.last_ts is None or ts > tally.last_ts:
                        tally.last_ts = ts
    return {"name": name, "origin": claimed_origin(log_dir), "records": tally.records,
            "unreadable_lines": tally.unreadable, "segments": len(paths),
            "layout_problem": problem, "first_ts": tally.first_ts, "last_ts": tally.last_ts}


def verify_with(log_dir: Path, verifiers: Sequence[NoteVerifier]) -> dict[str, Any]:
    """``status`` ``verified``, ``failed`` or ``not verified`` (no key), and the detail.

    A log verifies if any of the keys verifies it (each writer may sign with
    its own key). When all fail, the failure shown is one from a key that did
    sign the log, if any did, since "no signature by this key" only says the
    key is not this log's.
    """
    if not verifiers:
        return {"status": "not verified", "detail": "no verifier key given", "key": None}
    failures: list[str] = []
    for verifier in verifiers:
        outcome = verify_log(log_dir, verifier)
        if outcome.ok:
            return {"status": "verified", "key": verifier.name,
                    "detail": f"{outcome.checkpoints} checkpoints, "
                              f"{outcome.unsigned_tail} records past the latest"}
        failures.append(outcome.failure or "failed")
    relevant = [f for f in failures if "has no signature by key" not in f] or failures
    return {"status": "failed", "detail": relevant[0], "key": None}
