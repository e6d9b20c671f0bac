"""The audit log writer and verifier: round trips, crash repair, tampering and I/O failures."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit.layout import read_checkpoint_log
from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.merkle import leaf_hash
from cdp_plugin.audit.note import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    format_checkpoint,
    generate_signer_key,
    note_text,
    parse_checkpoint,
)
from cdp_plugin.audit.verify import VerifyReport, verify_directory, verify_log
from cdp_plugin.errors import AuditError, ConfigError
from tests.audit.merkle_reference import root_from_leaf_hashes

ORIGIN = "cdp-plugin/w0"
SLUG = "cdp-plugin_w0"
NEVER = float("inf")


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner(generate_signer_key("audit-test"))


@pytest.fixture(scope="module")
def verifier(signer: NoteSigner) -> NoteVerifier:
    return NoteVerifier(signer.verifier_key)


def open_log(root: Path, signer: NoteSigner, **options: Any) -> AuditLog:
    settings: dict[str, Any] = {"checkpoint_interval": NEVER, "fsync": False}
    settings.update(options)
    return AuditLog(root, ORIGIN, signer, **settings)


def record(i: int) -> dict[str, Any]:
    return {
        "kind": "decision",
        "action": "allow",
        "message_id": f"m-{i}",
        "ts": "2024-01-01T00:00:00Z",
    }


def fill(log: AuditLog, count: int) -> None:
    for i in range(count):
        log.append(record(i))


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def check(root: Path, verifier: NoteVerifier, **kwargs: Any) -> VerifyReport:
    return verify_log(root / SLUG, verifier, **kwargs)


def test_round_trip_writes_verifiable_canonical_lines(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer, checkpoint_every=100, segment_max_records=1000) as log:
        entries = [log.append(record(i)) for i in range(3000)]
        root = log.root()
    report = check(tmp_path, verifier)
    assert report == VerifyReport(True, 3000, report.checkpoints, None, 0, report.latest)
    assert report.latest == Checkpoint(ORIGIN, 3000, root)
    assert report.checkpoints == 31  # size 0 at creation, then every 100 records
    raw = [line for n in range(3) for line in lines(tmp_path / SLUG / f"segment-00000{n}.jsonl")]
    assert [e.index for e in entries] == list(range(3000))
    assert [e.leaf_hash for e in entries] == [leaf_hash(line[:-1]).hex() for line in raw]
    assert root == root_from_leaf_hashes([leaf_hash(line[:-1]) for line in raw])
    first = json.loads(raw[0])
    assert first == {**record(0), "seq": 0}
    assert raw[0][:-1] == json.dumps(first, sort_keys=True, separators=(",", ":")).encode()
    assert entries[5].kind == "decision" and entries[5].record["seq"] == 5


def test_seq_is_always_set_and_ts_only_when_absent(tmp_path: Path, signer: NoteSigner) -> None:
    with open_log(tmp_path, signer) as log:
        given = log.append({"kind": "k", "seq": 99, "ts": "2000-01-01T00:00:00.000000Z"})
        added = log.append({"kind": "k"})
    assert (given.record["seq"], given.record["ts"]) == (0, "2000-01-01T00:00:00.000000Z")
    assert added.record["seq"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", added.record["ts"])


def test_rotation_splits_segments_and_signs_each_boundary(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer, checkpoint_every=10_000, segment_max_records=250) as log:
        fill(log, 1000)
    names = sorted(p.name for p in (tmp_path / SLUG).glob("segment-*.jsonl"))
    assert names == [f"segment-00000{n}.jsonl" for n in range(4)]
    assert all(len(lines(tmp_path / SLUG / name)) == 250 for name in names)
    notes = read_checkpoint_log(tmp_path / SLUG / "checkpoints.log")[0]
    sizes = [parse_checkpoint(note_text(note.decode())).size for note in notes]
    assert sizes == [0, 250, 500, 750, 1000]
    assert check(tmp_path, verifier).ok


def test_reopen_continues_numbering_and_the_tree(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer, segment_max_records=7) as log:
        fill(log, 10)
    with open_log(tmp_path, signer, segment_max_records=7) as log:
        assert log.size == 10
        entry = log.append(record(10))
        root = log.root()
    assert entry.index == 10
    raw = [line for path in sorted((tmp_path / SLUG).glob("seg*")) for line in lines(path)]
    assert len(raw) == 11 and json.loads(raw[10])["seq"] == 10
    assert root == root_from_leaf_hashes([leaf_hash(line[:-1]) for line in raw])
    report = check(tmp_path, verifier)
    assert (report.ok, report.records, report.latest) == (True, 11, Checkpoint(ORIGIN, 11, root))


def test_unsigned_tail_is_reported_and_signed_on_reopen(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    log = open_log(tmp_path, signer, checkpoint_every=50)
    fill(log, 120)
    log.flush()  # durable, but the last 20 records have no checkpoint yet
    report = check(tmp_path, verifier)
    assert (report.ok, report.records, report.unsigned_tail) == (True, 120, 20)
    log._writer.release()  # the writer dies without closing; the kernel frees its lock
    open_log(tmp_path, signer).close()
    assert check(tmp_path, verifier).unsigned_tail == 0


def test_every_append_checkpoints_when_the_interval_is_zero(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer, checkpoint_interval=0.0) as log:
        fill(log, 5)
    assert check(tmp_path, verifier).checkpoints == 6


@pytest.mark.parametrize("torn", [b'{"kind":"decision","se', b"{not json}\n"])
def test_torn_last_line_is_cut_and_the_repair_recorded(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier, torn: bytes
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 30)
    segment = tmp_path / SLUG / "segment-000000.jsonl"
    with segment.open("ab") as stream:
        stream.write(torn)
    failure = check(tmp_path, verifier).failure
    assert failure is not None and failure.startswith("segment-000000.jsonl line 31: ")
    with open_log(tmp_path, signer) as log:
        assert log.size == 31
    repair = json.loads(lines(segment)[30])
    assert repair["kind"] == "audit.repair" and repair["seq"] == 30
    assert (repair["truncated_bytes"], repair["segment"]) == (len(torn), segment.name)
    report = check(tmp_path, verifier)
    assert (report.ok, report.records, report.unsigned_tail) == (True, 31, 0)


def test_interrupted_checkpoint_entry_is_cut_and_recorded(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 3)
    checkpoints = tmp_path / SLUG / "checkpoints.log"
    with checkpoints.open("ab") as stream:
        stream.write(f"{ORIGIN}\n9\n".encode())
    assert "incomplete entry after checkpoint 2" in str(check(tmp_path, verifier).failure)
    with open_log(tmp_path, signer) as log:
        entry = log.append(record(4))
    assert entry.index == 4
    repair = json.loads(lines(tmp_path / SLUG / "segment-000000.jsonl")[3])
    assert (repair["kind"], repair["segment"]) == ("audit.repair", "checkpoints.log")
    assert check(tmp_path, verifier).ok


@pytest.fixture
def sample(tmp_path: Path, signer: NoteSigner) -> Path:
    """100 records; checkpoints at sizes 0, 10, ..., 100 (checkpoint n has size 10 * (n - 1))."""
    with open_log(tmp_path, signer, checkpoint_every=10) as log:
        fill(log, 100)
    return tmp_path / SLUG / "segment-000000.jsonl"


def rewrite(path: Path, new_lines: list[bytes]) -> None:
    path.write_bytes(b"".join(new_lines))


def test_altered_record_is_located(sample: Path, verifier: NoteVerifier) -> None:
    content = lines(sample)
    content[34] = content[34].replace(b'"allow"', b'"allpw"')
    rewrite(sample, content)
    assert check(sample.parents[1], verifier).failure == (
        "checkpoint 5 in checkpoints.log (size 40) does not match the records: "
        "a record from segment-000000.jsonl line 31 to segment-000000.jsonl line 40 was altered"
    )


def test_record_that_is_no_longer_json_is_located(sample: Path, verifier: NoteVerifier) -> None:
    content = lines(sample)
    content[34] = content[34].replace(b'"allow"', b'"allow')
    rewrite(sample, content)
    report = check(sample.parents[1], verifier)
    assert (report.ok, report.records) == (False, 34)
    assert report.failure == "segment-000000.jsonl line 35: not valid JSON"


def test_deleted_line_is_located(sample: Path, verifier: NoteVerifier) -> None:
    content = lines(sample)
    del content[57]
    rewrite(sample, content)
    assert check(sample.parents[1], verifier).failure == (
        "segment-000000.jsonl line 58: seq is not 57, the record's position in the log"
    )


def test_swapped_lines_are_located(sample: Path, verifier: NoteVerifier) -> None:
    content = lines(sample)
    content[12], content[13] = content[13], content[12]
    rewrite(sample, content)
    assert str(check(sample.parents[1], verifier).failure).startswith(
        "segment-000000.jsonl line 13: seq is not 12"
    )


def test_dropped_records_at_the_end_are_detected(sample: Path, verifier: NoteVerifier) -> None:
    rewrite(sample, lines(sample)[:95])
    assert check(sample.parents[1], verifier).failure == (
        "checkpoint 11 in checkpoints.log covers 100 records but the segments hold 95"
    )


def test_missing_segment_is_detected(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer, segment_max_records=10) as log:
        fill(log, 30)
    (tmp_path / SLUG / "segment-000001.jsonl").unlink()
    assert check(tmp_path, verifier).failure == "segment-000001.jsonl is missing"


def test_log_without_checkpoints_fails(sample: Path, verifier: NoteVerifier) -> None:
    (sample.parent / "checkpoints.log").unlink()
    (sample.parent / "checkpoint.latest").unlink()
    assert check(sample.parents[1], verifier).failure == "checkpoints.log is missing or empty"
    assert verify_log(sample.parent / "absent", verifier).failure == (
        "absent is not a log directory"
    )


def test_checkpoint_resigned_with_another_key_is_located(
    sample: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    impostor = NoteSigner(generate_signer_key(signer.name))
    path = sample.parent / "checkpoints.log"
    notes = [note.decode() for note in read_checkpoint_log(path)[0]]
    notes[2] = impostor.sign(note_text(notes[2]))
    path.write_text("".join(note + "\n" for note in notes))
    assert check(sample.parents[1], verifier).failure == (
        "checkpoint 3 in checkpoints.log: note has no signature by key 'audit-test'"
    )


def test_checkpoint_with_a_wrong_root_is_located(
    sample: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    forged = signer.sign(format_checkpoint(ORIGIN, 100, bytes(32)))
    (sample.parent / "checkpoint.latest").write_text(forged)
    failure = check(sample.parents[1], verifier).failure
    assert str(failure).startswith("checkpoint.latest (size 100) does not match the records")


def test_shrinking_checkpoint_is_detected(
    sample: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with (sample.parent / "checkpoints.log").open("a") as stream:
        stream.write(signer.sign(format_checkpoint(ORIGIN, 50, bytes(32))) + "\n")
    assert check(sample.parents[1], verifier).failure == (
        "checkpoint 12 in checkpoints.log: size decreased from 100 to 50"
    )


def test_trusted_checkpoint_must_be_extended(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    with open_log(tmp_path, signer) as log:
        fill(log, 40)
        trusted = Checkpoint(ORIGIN, 40, log.root())
        fill(log, 5)
    assert check(tmp_path, verifier, trusted=trusted).ok
    longer = Checkpoint(ORIGIN, 60, trusted.root)
    assert check(tmp_path, verifier, trusted=longer).failure == (
        "trusted checkpoint covers 60 records but the segments hold 45"
    )
    forked = Checkpoint(ORIGIN, 40, bytes(32))
    assert str(check(tmp_path, verifier, trusted=forked).failure).startswith(
        "trusted checkpoint (size 40) does not match the records"
    )
    elsewhere = Checkpoint("another/origin", 40, trusted.root)
    assert "origin is not 'another/origin'" in str(
        check(tmp_path, verifier, trusted=elsewhere).failure
    )


def test_verify_directory_checks_every_log(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    for origin in ("cdp-plugin/w0", "cdp-plugin/w1"):
        with AuditLog(tmp_path, origin, signer, fsync=False) as log:
            log.append({"kind": "k"})
    (tmp_path / "not-a-log").mkdir()
    results = verify_directory(tmp_path, verifier)
    assert [(name, report.ok, report.records) for name, report in results] == [
        ("cdp-plugin_w0", True, 1),
        ("cdp-plugin_w1", True, 1),
    ]


def test_fsync_mode_round_trip(tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier) -> None:
    with open_log(tmp_path, signer, fsync=True, checkpoint_every=5) as log:
        fill(log, 12)
        log.flush()
    assert check(tmp_path, verifier).records == 12


def test_directory_path_that_is_a_file_raises_audit_error(
    tmp_path: Path, signer: NoteSigner
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditError, match="cannot open the log directory"):
        open_log(blocker, signer)


def test_failed_flush_rolls_back_and_fails_closed(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(tmp_path, signer, fsync=True)
    fill(log, 10)
    log.flush()
    log.append({"kind": "decision", "subject_key": "SECRET-VALUE"})

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(AuditError) as raised:
        log.flush()
    monkeypatch.undo()
    assert "segment-000000.jsonl" in str(raised.value)
    assert "SECRET" not in str(raised.value)
    assert log.size == 10
    with pytest.raises(AuditError, match="reopen"):
        log.append(record(11))
    log.close()
    assert len(lines(tmp_path / SLUG / "segment-000000.jsonl")) == 10
    with open_log(tmp_path, signer) as reopened:
        assert reopened.append(record(10)).index == 10
    assert check(tmp_path, verifier).records == 11


def test_failed_checkpoint_leaves_records_durable_and_fails_closed(
    tmp_path: Path, signer: NoteSigner, verifier: NoteVerifier
) -> None:
    log = open_log(tmp_path, signer, checkpoint_every=5)
    checkpoints = tmp_path / SLUG / "checkpoints.log"
    saved = checkpoints.read_bytes()
    checkpoints.unlink()
    checkpoints.mkdir()  # opening it for writing now fails
    fill(log, 4)
    with pytest.raises(AuditError, match=r"cannot write checkpoints\.log"):
        log.append(record(4))
    with pytest.raises(AuditError):
        log.flush()
    log.close()
    checkpoints.rmdir()
    checkpoints.write_bytes(saved)
    report = check(tmp_path, verifier)
    assert (report.ok, report.records, report.unsigned_tail) == (True, 5, 5)


def test_bad_records_are_refused_without_their_values(tmp_path: Path, signer: NoteSigner) -> None:
    with open_log(tmp_path, signer) as log:
        with pytest.raises(AuditError, match="kind"):
            log.append({"action": "allow"})
        with pytest.raises(AuditError) as raised:
            log.append({"kind": "decision", "score": float("nan"), "x": "SECRET"})
        assert "SECRET" not in str(raised.value) and "nan" not in str(raised.value)
        assert log.append({"kind": "decision"}).index == 0


def test_close_is_idempotent_and_final(tmp_path: Path, signer: NoteSigner) -> None:
    log = open_log(tmp_path, signer)
    log.close()
    log.close()
    with pytest.raises(AuditError, match="closed"):
        log.append(record(0))


def test_a_directory_of_another_origin_is_refused(tmp_path: Path, signer: NoteSigner) -> None:
    open_log(tmp_path, signer).close()
    with pytest.raises(AuditError, match="another origin"):
        AuditLog(tmp_path, "cdp-plugin_w0", signer, fsync=False)


@pytest.mark.parametrize("options", [{"checkpoint_every": 0}, {"segment_max_records": 0}])
def test_invalid_settings_raise_config_error(
    tmp_path: Path, signer: NoteSigner, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError):
        open_log(tmp_path, signer, **options)
    with pytest.raises(ConfigError):
        AuditLog(tmp_path, "two\nlines", signer)
