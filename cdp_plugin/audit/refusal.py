"""When the writer refuses to continue a log: the error, and the note an auditor finds.

A log the writer cannot vouch for (its records or checkpoints disagree with
each other or with the writer's own state, see
:mod:`cdp_plugin.audit.open_checks`) is refused for good and noted in
``refusals.log`` beside the log: a file outside the Merkle tree, so noting the
refusal adds nothing to the log that was refused. ``verify_log`` reports a log
with refusals as failed. Messages name files, sizes and line numbers, never
record contents. (A directory held by another live writer is a setup mistake,
refused by :mod:`cdp_plugin.audit.writer_lock`, and leaves no note.)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cdp_plugin.errors import AuditError

REFUSALS_LOG = "refusals.log"


class AuditLogRefused(AuditError):
    """The writer will not open this log directory; the message says why and what to do.

    The command line reports it as a usage error (exit code 2): nothing was
    written, and running again without a change gives the same refusal.
    """


def record_refusal(log_dir: Path, origin: str, reason: str, *, fsync: bool) -> None:
    """Append one JSON line ``{"origin", "reason", "ts"}`` to ``refusals.log``, best effort.

    A refusal must still be raised when the directory cannot be written, so
    ``OSError`` is swallowed here; the raised error carries the same reason.
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = json.dumps({"origin": origin, "reason": reason, "ts": stamp}, sort_keys=True,
                      ensure_ascii=False) + "\n"
    try:
        fd = os.open(log_dir / REFUSALS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def read_refusals(log_dir: Path) -> list[str]:
    """The reasons noted in ``refusals.log``, oldest first; lines that do not parse count too.

    Raises ``OSError`` if the file exists but cannot be read.
    """
    path = log_dir / REFUSALS_LOG
    if not path.exists():
        return []
    reasons = []
    for line in path.read_bytes().splitlines():
        try:
            entry = json.loads(line)
            reason = entry["reason"] if isinstance(entry, dict) else None
        except (ValueError, KeyError):
            reason = None
        reasons.append(reason if isinstance(reason, str) else "an unreadable entry")
    return reasons
