"""A reopened writer signs only records it can vouch for; a crash's damage it repairs.

The unsigned tail (records after the last checkpoint) is committed to by
nothing in the log, so stripping the later checkpoints turns signed records
into an unsigned tail anyone could edit, and a writer that reopened the log
used to sign the edit at its next checkpoint. The writer's signed
``writer.state`` now vouches for what it made durable; an edit it does not
vouch for makes it refuse the log and say so in ``refusals.log``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit.layout import read_checkpoint_log
from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import NoteSigner, NoteVerifier, generate_signer_key
from cdp_plugin.audit.refusal import AuditLogRefused
from cdp_plugin.audit.verify import verify_log
from cdp_plugin.audit.writer_state import StateFile, WriterState
from cdp_plugin.cli import main
from cdp_plugin.errors import AuditError
from tests.conftest import RULES_DIR
from tests.events import ALL_GRANTED, track

ORIGIN = "cdp-plugin/w0"
SLUG = "cdp-plugin_w0"
SEGMENT = "segment-000000.jsonl"


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner(generate_signer_key("open-test"))


@pytest.fixture(scope="module")
def verifier(signer: NoteSigner) -> NoteVerifier:
    return NoteVerifier(signer.verifier_key)


def open_log(root: Path, signer: NoteSigner, **options: Any) -> AuditLog:
    settings: dict[str, Any] = {"checkpoint_every": 10, "checkpoint_interval": float("inf"),
                                "fsync": False}
    return AuditLog(root, ORIGIN, signer, **{**settings, **options})


def fill(log: AuditLog, count: int) -> None:
    for _ in range(count):
        log.append({"kind": "event.decision", "action": "allow", "subject": "s_" + "a" * 32})


def lines(log_dir: Path) -> list[bytes]:
    return (log_dir / SEGMENT).read_bytes().splitlines(keepends=True)


def edit(log_dir: Path, index: int) -> None:
    """Change record ``index`` in place, keeping it a well-formed record with its seq."""
    content = lines(log_dir)
    assert json.loads(content[index])["seq"] == index
    content[index] = content[index].replace(b'"allow"', b'"drop"')
    (log_dir / SEGMENT).write_bytes(b"".join(content))


def strip_checkpoints(log_dir: Path, keep: int) -> None:
    """Keep only the first ``keep`` checkpoints, in checkpoints.log and checkpoint.latest."""
    notes = read_checkpoint_log(log_dir / "checkpoints.log")[0][:keep]
    (log_dir / "checkpoints.log").write_bytes(b"".join(note + b"\n" for note in notes))
    (log_dir / "checkpoint.latest").write_bytes(notes[-1])


def snapshot(log_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(log_dir.iterdir())
            if path.name.startswith(("segment-", "checkpoint"))}


def refusals(log_dir: Path) -> list[dict[str, Any]]:
    path = log_dir / "refusals.log"
    return [json.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def crashed_copy(log: AuditLog, tmp_path: Path) -> Path:
    """The directory of an open writer as a crash would leave it (the writer keeps its own)."""
    root = tmp_path / "crashed"
    shutil.copytree(log.directory, root / SLUG)
    return root


def crashed_log(tmp_path: Path, signer: NoteSigner, *batches: int) -> Path:
    """A log written in ``batches`` (each filled and flushed), copied as a crash
    of the still-open writer would leave it."""
    log = open_log(tmp_path, signer)
    for count in batches:
        fill(log, count)
        log.flush()
    root = crashed_copy(log, tmp_path)
    log.close()
    return root


def assert_refused(root: Path, signer: NoteSigner, verifier: NoteVerifier, *expected: str) -> str:
    """Reopening is refused, changes nothing in the log, and leaves a refusal an auditor sees."""
    log_dir = root / SLUG
    before = snapshot(log_dir)
    with pytest.raises(AuditLogRefused) as raised:
        open_log(root, signer)
    message = str(raised.value)
    assert all(part in message for part in expected), message
    assert "refusals.log" in message and "\n" not in message and "s_aaaa" not in message
    assert snapshot(log_dir) == before  # nothing signed, nothing appended, nothing cut
    [refusal] = refusals(log_dir)
    assert refusal["origin"] == ORIGIN and refusal["reason"] in message
    report = verify_log(log_dir, verifier)
    assert not report.ok and str(report.failure).startswith("refusals.log: the writer refused")
    return message


# --- the regression: an edited unsigned tail is never signed -----------------------------


def test_an_edit_behind_stripped_checkpoints_is_refused_not_signed(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 50)  # checkpoints at 0, 10, ..., 50
    log_dir = tmp_path / SLUG
    strip_checkpoints(log_dir, 3)  # the last one left has size 20: records 20..49 are a tail
    edit(log_dir, 34)
    assert verify_log(log_dir, verifier).ok  # the log alone cannot show the edit
    assert_refused(tmp_path, signer, verifier, "writer.state",
                   "a record from segment-000000.jsonl line 21 to segment-000000.jsonl line 50")
    # Refused for good: every later writer is refused too, and says so again.
    with pytest.raises(AuditLogRefused):
        open_log(tmp_path, signer)
    assert len(refusals(log_dir)) == 2


def test_an_edit_in_a_crashed_writers_unsigned_tail_is_refused(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    root = crashed_log(tmp_path, signer, 25)  # durable; records 20..24 have no checkpoint yet
    edit(root / SLUG, 22)
    assert_refused(root, signer, verifier, "do not match writer.state (size 25)")


def test_the_cli_refuses_an_edited_tail_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--rules", str(RULES_DIR), "--data-dir", str(tmp_path / "data"),
               "--audit-dir", str(tmp_path / "audits"), "--json"]
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(track("m-1", consent=ALL_GRANTED)) + "\n")
    out = str(tmp_path / "out.jsonl")
    assert main(["run", str(events), "--out", out, *options]) == 0
    log_dir = tmp_path / "audits" / SLUG
    strip_checkpoints(log_dir, 1)  # only the empty tree's checkpoint is left
    content = lines(log_dir)
    decision = next(i for i, line in enumerate(content) if b'"event.decision"' in line)
    content[decision] = content[decision].replace(b'"allow"', b'"drop"')
    (log_dir / SEGMENT).write_bytes(b"".join(content))
    capsys.readouterr()
    assert main(["run", str(events), "--out", out, *options]) == 2
    captured = capsys.readouterr()
    [message] = captured.err.splitlines()
    assert message.startswith("cdp-plugin: audit log 'cdp-plugin_w0': ")
    assert "writer.state" in message and "refusals.log" in message
    assert "user-alice" not in message and captured.out == ""


# --- what else the writer refuses --------------------------------------------------------


def test_a_tail_without_writer_state_is_refused(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    root = crashed_log(tmp_path, signer, 15)
    (root / SLUG / "writer.state").unlink()
    assert_refused(root, signer, verifier, "5 records after the last checkpoint",
                   "writer.state is missing")


def test_a_closed_log_without_writer_state_opens(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    # Every record is signed, so there is nothing for a state to vouch for (logs from
    # before writer.state existed look like this).
    with open_log(tmp_path, signer) as log:
        fill(log, 15)
    (tmp_path / SLUG / "writer.state").unlink()
    with open_log(tmp_path, signer) as log:
        fill(log, 1)
    assert (tmp_path / SLUG / "writer.state").exists()
    assert verify_log(tmp_path / SLUG, verifier).records == 16


def test_records_altered_before_the_last_checkpoint_are_refused(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 30)
    edit(tmp_path / SLUG, 4)
    log_dir = tmp_path / SLUG
    before = snapshot(log_dir)
    with pytest.raises(AuditLogRefused, match=r"do not match the last checkpoint \(size 30\)"):
        open_log(tmp_path, signer)
    assert snapshot(log_dir) == before and len(refusals(log_dir)) == 1


@pytest.mark.parametrize("latest", ["two behind", "ahead", "missing"])
def test_checkpoint_latest_further_off_than_a_crash_leaves_is_refused(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier, latest: str
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 40)
    log_dir = tmp_path / SLUG
    notes = read_checkpoint_log(log_dir / "checkpoints.log")[0]
    if latest == "two behind":
        (log_dir / "checkpoint.latest").write_bytes(notes[-3])
    elif latest == "ahead":  # checkpoints.log cut back, latest left in place
        (log_dir / "checkpoints.log").write_bytes(b"".join(note + b"\n" for note in notes[:3]))
    else:
        (log_dir / "checkpoint.latest").unlink()
    assert_refused_latest(tmp_path, signer)


def assert_refused_latest(root: Path, signer: NoteSigner) -> None:
    log_dir = root / SLUG
    before = snapshot(log_dir)
    with pytest.raises(AuditLogRefused, match=r"checkpoint\.latest is neither the last"):
        open_log(root, signer)
    assert snapshot(log_dir) == before and len(refusals(log_dir)) == 1


def test_a_log_signed_with_another_key_is_refused_as_a_setup_problem(
    tmp_path: Path, signer: NoteSigner
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 3)
    other = NoteSigner(generate_signer_key("someone-else"))
    with pytest.raises(AuditLogRefused, match="signed with another key than 'someone-else'"):
        open_log(tmp_path, other)
    assert refusals(tmp_path / SLUG) == []  # the log is fine; the configuration is not


# --- what a crash leaves, repaired -------------------------------------------------------


def repairs(log_dir: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, lines(log_dir)) if r["kind"] == "audit.repair"]


def test_a_lagging_checkpoint_latest_is_repaired_and_recorded(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 20)
    log_dir = tmp_path / SLUG
    notes = read_checkpoint_log(log_dir / "checkpoints.log")[0]
    (log_dir / "checkpoint.latest").write_bytes(notes[-2])  # a crash between the two writes
    with open_log(tmp_path, signer) as log:
        assert log.size == 21
    [repair] = repairs(log_dir)
    assert (repair["segment"], repair["seq"]) == ("checkpoint.latest", 20)
    assert repair["truncated_bytes"] == len(notes[-2])  # the stale copy it replaced
    report = verify_log(log_dir, verifier)
    assert (report.ok, report.records, report.unsigned_tail) == (True, 21, 0)


def test_records_past_writer_state_are_cut_not_signed(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    root = crashed_log(tmp_path, signer, 13)
    log_dir = root / SLUG
    # What a flush leaves when its records landed but the state after them did not.
    extra = [json.dumps({"kind": "event.decision", "action": "forged", "seq": seq,
                         "ts": "2024-01-01T00:00:00.000000Z"}, sort_keys=True,
                        separators=(",", ":")).encode() + b"\n" for seq in (13, 14)]
    with (log_dir / SEGMENT).open("ab") as stream:
        stream.write(b"".join(extra))
    with open_log(root, signer) as reopened:
        assert reopened.size == 14  # the 13 vouched-for records and the repair
    [repair] = repairs(log_dir)
    assert repair["seq"] == 13 and repair["segment"] == SEGMENT
    assert repair["truncated_bytes"] == sum(map(len, extra))
    assert b"forged" not in (log_dir / SEGMENT).read_bytes()
    report = verify_log(log_dir, verifier)
    assert (report.ok, report.records, report.unsigned_tail) == (True, 14, 0)


def test_a_torn_writer_state_slot_falls_back_to_the_older_one(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    # The state now says 15 records, in the slot the first flush did not use.
    root = crashed_log(tmp_path, signer, 12, 3)
    state = root / SLUG / "writer.state"
    data = bytearray(state.read_bytes())
    newest = 0 if b"size 15\n" in data[: len(data) // 2] else len(data) // 2
    data[newest + 40 : newest + 80] = bytes(40)  # a write cut short by a crash
    state.write_bytes(bytes(data))
    with open_log(root, signer) as reopened:
        assert reopened.size == 13  # back to the 12 the older slot vouches for, and the repair
    [repair] = repairs(root / SLUG)
    assert repair["seq"] == 12 and repair["segment"] == SEGMENT
    assert verify_log(root / SLUG, verifier).ok


@pytest.mark.parametrize("landed", [False, True])
def test_a_failed_state_write_fails_the_flush_and_reopening_agrees(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier,
    monkeypatch: pytest.MonkeyPatch, landed: bool
) -> None:
    log = open_log(tmp_path, signer)
    fill(log, 12)
    log.flush()
    fill(log, 3)
    original = StateFile.write

    def failing(self: StateFile, state: WriterState) -> None:
        if landed:  # the slot was written, then its fsync failed
            original(self, state)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(StateFile, "write", failing)
    with pytest.raises(AuditError, match=r"cannot write writer\.state: Input/output error"):
        log.flush()
    monkeypatch.undo()
    with pytest.raises(AuditError, match="reopen"):
        log.append({"kind": "event.decision"})
    log.close()
    with open_log(tmp_path, signer) as reopened:
        # Either the state vouches for the 3 records, or they were never reported durable.
        assert reopened.size == (15 if landed else 13)
    assert [r["segment"] for r in repairs(tmp_path / SLUG)] == ([] if landed else [SEGMENT])
    assert verify_log(tmp_path / SLUG, verifier).ok
