"""Durability: a writer killed at random points loses nothing it reported durable.

``crash_writer.py`` runs in a subprocess, appends and flushes (with fsync) in
a loop and prints the durable size after each flush. The test kills it with
SIGKILL at seeded random moments, sometimes also leaving the torn write a
crash in the middle of ``write()`` would, and restarts it; reopening repairs
the log. After every restart the log must verify and hold every record the
writer reported durable, unchanged.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from cdp_plugin.audit.layout import CHECKPOINTS_LOG, list_segments, log_slug, read_checkpoint_log
from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import NoteSigner, NoteVerifier, generate_signer_key
from cdp_plugin.audit.verify import verify_log
from cdp_plugin.errors import AuditError
from tests.audit.crash_writer import ORIGIN, record

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 22
PER_FLUSH = 3
TIMEOUT = 30.0


class Writer:
    """One run of crash_writer.py, its stdout read by a thread so reads can time out."""

    def __init__(self, root: Path, key_file: Path, run: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER), str(root), str(key_file), str(run), str(PER_FLUSH)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.strip())
        self.lines.put(None)

    def read(self) -> str:
        line = self.lines.get(timeout=TIMEOUT)
        if line is None:
            assert self.process.stderr is not None
            raise AssertionError(f"the writer exited: {self.process.stderr.read()}")
        return line

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def kill(self) -> list[str]:
        """SIGKILL the writer and return the lines it printed before dying."""
        self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        rest = []
        while (line := self.lines.get(timeout=TIMEOUT)) is not None:
            rest.append(line)
        self._close_pipes()
        return rest

    def close(self) -> int:
        """End its input so it closes the log, and return its exit code."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=TIMEOUT)
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def read_records(log_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in list_segments(log_dir)
            for line in path.read_bytes().splitlines()]


def tear(log_dir: Path, rng: random.Random) -> tuple[str, int]:
    """Leave what a crash inside write() leaves: part of a line or of a checkpoint entry."""
    if rng.random() < 0.5:
        path = list_segments(log_dir)[-1]
        partial = json.dumps(record(999, 0), sort_keys=True).encode()[: rng.randint(1, 60)]
    else:
        path = log_dir / CHECKPOINTS_LOG
        partial = read_checkpoint_log(path)[0][-1][: rng.randint(1, 90)]
    with path.open("ab") as stream:
        stream.write(partial)
    return path.name, len(partial)


def check_log(log_dir: Path, verifier: NoteVerifier, durable_size: int,
              durable_by_run: dict[int, int]) -> list[dict[str, Any]]:
    """The log verifies and holds, unchanged, every record reported durable."""
    report = verify_log(log_dir, verifier)
    assert report.ok, report.failure
    assert report.records >= durable_size
    records = read_records(log_dir)
    assert [r["seq"] for r in records] == list(range(report.records))
    for run, durable in durable_by_run.items():
        written = [r for r in records if r["kind"] == "test.write" and r["run"] == run]
        # A crash drops only a suffix of what was never reported durable.
        assert [r["n"] for r in written] == list(range(len(written)))
        assert len(written) >= durable
        for r in written:
            assert {k: r[k] for k in ("kind", "run", "n", "payload")} == record(run, r["n"])
    return records


def test_killed_writer_never_loses_durable_records(tmp_path: Path) -> None:
    rng = random.Random(8675309)
    key_file = tmp_path / "audit.key"
    signer_text = generate_signer_key("crash-test")
    key_file.write_text(signer_text)
    verifier = NoteVerifier(NoteSigner(signer_text).verifier_key)
    root = tmp_path / "audits"
    log_dir = root / log_slug(ORIGIN)
    durable_size = 0
    durable_by_run: dict[int, int] = {}
    torn: tuple[str, int] | None = None
    repairs_seen = 0
    for run in range(KILLS + 1):
        writer = Writer(root, key_file, run)
        opened = writer.read()
        records = check_log(log_dir, verifier, durable_size, durable_by_run)
        assert opened == f"open {len(records)}"
        repairs = [r for r in records if r["kind"] == "audit.repair"]
        if torn is not None:
            name, cut = torn
            # The kill itself may also have torn the other file, so look at every new repair.
            assert any(r["segment"] == name and r["truncated_bytes"] >= cut
                       for r in repairs[repairs_seen:])
            assert len(repairs) > repairs_seen
        repairs_seen = len(repairs)
        if run == KILLS:
            assert writer.close() == 0
            break
        writer.send("go\n")
        printed = [writer.read() for _ in range(rng.randint(1, 12))]
        time.sleep(rng.uniform(0, 0.004))
        printed += writer.kill()  # what it printed before the signal landed counts too
        assert all(line.startswith("durable ") for line in printed)
        _, size, count = printed[-1].split()
        durable_size = max(durable_size, int(size))
        durable_by_run[run] = max(durable_by_run.get(run, 0), int(count))
        torn = tear(log_dir, rng) if rng.random() < 0.4 else None
    report = verify_log(log_dir, verifier)
    assert (report.ok, report.unsigned_tail) == (True, 0)
    assert report.records >= durable_size
    assert len(durable_by_run) == KILLS


# --- a directory that can no longer be written ---------------------------------------------


@pytest.mark.parametrize("operation", ["append", "flush"])
def test_an_unwritable_directory_makes_append_and_flush_fail_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    signer = NoteSigner(generate_signer_key("crash-test"))
    log = AuditLog(tmp_path, ORIGIN, signer, checkpoint_every=3,
                   checkpoint_interval=float("inf"), fsync=True)
    real_open = os.open

    def no_new_files(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        # What a read-only directory does: existing files open, new ones cannot be created.
        if flags & os.O_CREAT and not os.path.exists(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_new_files)
    log.append({"kind": "event.decision", "subject": "s_secret"})
    log.append({"kind": "event.decision", "subject": "s_secret"})
    with pytest.raises(AuditError) as raised:
        if operation == "append":
            log.append({"kind": "event.decision"})  # the third record is due a checkpoint
        else:
            log.flush()
    assert "cannot write segment-000000.jsonl: Permission denied" in str(raised.value)
    assert "secret" not in str(raised.value)
    with pytest.raises(AuditError, match="reopen"):
        log.append({"kind": "event.decision"})
    with pytest.raises(AuditError, match="reopen"):
        log.flush()
    monkeypatch.undo()
    log.close()
    verifier = NoteVerifier(signer.verifier_key)
    report = verify_log(tmp_path / log_slug(ORIGIN), verifier)
    assert (report.ok, report.records) == (True, 0)


def test_log_files_are_created_with_mode_0644(tmp_path: Path) -> None:
    signer = NoteSigner(generate_signer_key("crash-test"))
    previous = os.umask(0)  # without a umask, only the mode the writer asks for applies
    try:
        with AuditLog(tmp_path, ORIGIN, signer, fsync=False) as log:
            log.append({"kind": "event.decision"})
    finally:
        os.umask(previous)
    modes = {path.name: path.stat().st_mode & 0o777
             for path in (tmp_path / log_slug(ORIGIN)).iterdir()}
    assert modes == {CHECKPOINTS_LOG: 0o644, "checkpoint.latest": 0o644,
                     "segment-000000.jsonl": 0o644, "writer.lock": 0o644, "writer.state": 0o644}
