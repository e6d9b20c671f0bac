"""A writer for the crash test: append records forever, reporting what is durable.

Usage: ``python crash_writer.py ROOT KEY_FILE RUN PER_FLUSH``. Opens the audit
log under ROOT (repairing what a previous crash left), prints ``open <size>``
and waits for one line on stdin: ``go`` starts writing, end of input closes
the log and exits. While writing, it appends PER_FLUSH records, flushes them
(fsync) and prints ``durable <log size> <records of this run>``, in a loop,
until it is killed.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import NoteSigner

ORIGIN = "cdp-plugin/crash"


def record(run: int, number: int) -> dict[str, Any]:
    """The record ``number`` of writer run ``run``; the test recomputes it to compare."""
    digest = hashlib.sha256(f"{run}:{number}".encode()).hexdigest()
    return {"kind": "test.write", "run": run, "n": number, "payload": digest * 3}


def main(argv: list[str]) -> int:
    root, key_file, run, per_flush = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    signer = NoteSigner(key_file.read_text().strip())
    log = AuditLog(root, ORIGIN, signer, checkpoint_every=25, checkpoint_interval=0.02,
                   segment_max_records=300, fsync=True)
    print(f"open {log.size}", flush=True)
    if sys.stdin.readline().strip() != "go":
        log.close()
        return 0
    number = 0
    while True:
        for _ in range(per_flush):
            log.append(record(run, number))
            number += 1
        log.flush()
        print(f"durable {log.size} {number}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
