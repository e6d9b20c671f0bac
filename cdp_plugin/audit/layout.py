"""The on-disk layout of an audit log directory, as ``audits/README.md`` documents it.

A log directory holds numbered segment files of JSON lines and a
``checkpoints.log`` of signed notes, plus ``checkpoint.latest``. The writer in
:mod:`cdp_plugin.audit.log` and every reader name and list files through this
module, so a log the writer accepts is one the verifier can read. Nothing here
checks a hash or a signature.
"""

from __future__ import annotations

import re
from pathlib import Path

CHECKPOINTS_LOG = "checkpoints.log"
CHECKPOINT_LATEST = "checkpoint.latest"
_SEGMENT = re.compile(r"segment-([0-9]+)\.jsonl")


def segment_name(number: int) -> str:
    """The file name of segment ``number``: ``segment-000042.jsonl``."""
    return f"segment-{number:06d}.jsonl"


def log_slug(origin: str) -> str:
    """The directory name of the log with this origin line.

    Characters other than ASCII letters, digits, ``.``, ``_`` and ``-`` become
    ``_``; a leading dot gets a ``_`` prefix so the name is never hidden or
    ``..``. Distinct origins may share a slug: the writer refuses to open a
    directory whose checkpoints carry another origin.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", origin)
    return f"_{slug}" if slug.startswith(".") else slug


def is_log_directory(path: Path) -> bool:
    """Whether ``path`` holds an audit log: a ``checkpoints.log`` or segment files."""
    return (path / CHECKPOINTS_LOG).exists() or any(path.glob("segment-*.jsonl"))


def list_segments(log_dir: Path) -> list[Path]:
    """The segment files in order; raises ``ValueError`` naming a gap or a stray name."""
    numbered: dict[int, Path] = {}
    for path in log_dir.glob("segment-*.jsonl"):
        match = _SEGMENT.fullmatch(path.name)
        if not match or path.name != segment_name(int(match[1])):
            raise ValueError(f"{path.name} is not a segment file name")
        numbered[int(match[1])] = path
    for number in range(len(numbered)):
        if number not in numbered:
            raise ValueError(f"{segment_name(number)} is missing")
    return [numbered[n] for n in range(len(numbered))]


def read_checkpoint_log(path: Path) -> tuple[list[bytes], int, int]:
    """The complete signed notes in ``checkpoints.log``, and how much of it they span.

    Each entry is a signed note followed by one extra newline, so an entry ends
    at the second ``\\n\\n`` after its start. Returns ``(notes, complete_bytes,
    total_bytes)``; bytes past ``complete_bytes`` are an interrupted entry.
    """
    data = path.read_bytes() if path.exists() else b""
    notes: list[bytes] = []
    start = 0
    while (text_end := data.find(b"\n\n", start)) >= 0:
        end = data.find(b"\n\n", text_end + 2)
        if end < 0:
            break
        notes.append(data[start : end + 1])
        start = end + 2
    return notes, start, len(data)

