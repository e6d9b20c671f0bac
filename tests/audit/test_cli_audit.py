"""`cdp-plugin audit key|verify|prove|consistency|check-proof` end to end, and the proof library."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit.layout import CHECKPOINT_LATEST, CHECKPOINTS_LOG, read_checkpoint_log
from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.merkle import leaf_hash
from cdp_plugin.audit.note import NoteSigner, generate_signer_key, note_text
from cdp_plugin.audit.proofs import (
    ProofError,
    build_inclusion_proof,
    check_proof,
    consistency_ranges,
    inclusion_ranges,
    range_roots,
)
from cdp_plugin.cli import audit as audit_cli
from cdp_plugin.config import Config
from cdp_plugin.errors import CdpPluginError, ConfigError
from cdp_plugin.keys.audit_signer import load_audit_signer
from tests.audit.merkle_reference import consistency_proof, inclusion_proof, root_from_leaf_hashes

RECORDS = 120
EVERY = 25
SIZES = [0, 25, 50, 75, 100, 120]  # the checkpoints of each sample log


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp-plugin")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    audit_cli.register(commands)
    return parser


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run a command as ``cdp_plugin.cli.main`` does: exit 2 for ConfigError, 1 for others."""

    def run(*argv: str) -> Result:
        args = build_parser().parse_args(list(argv))
        try:
            code = args.handler(args)
        except ConfigError as exc:
            print(f"cdp-plugin: {exc}")
            code = 2
        except CdpPluginError as exc:
            print(f"cdp-plugin: {exc}")
            code = 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@dataclass
class Logs:
    root: Path
    signers: dict[str, NoteSigner]
    key_files: dict[str, Path]

    def log(self, worker: str) -> Path:
        return self.root / f"cdp-plugin_{worker}"

    def key(self, worker: str) -> str:
        return self.signers[worker].verifier_key


def record(i: int) -> dict[str, Any]:
    return {"kind": "event.decision", "subject": f"s_{i:032x}", "action": "drop",
            "reasons": ["consent.denied"], "message_id": f"m-{i}"}


def write(root: Path, worker: str, signer: NoteSigner, count: int, start: int = 0) -> None:
    with AuditLog(root, f"cdp-plugin/{worker}", signer, checkpoint_every=EVERY,
                  checkpoint_interval=float("inf"), fsync=False) as log:
        for i in range(start, start + count):
            log.append(record(i))


@pytest.fixture
def logs(tmp_path: Path) -> Logs:
    """Two workers' logs of 120 records each, under one directory, with different keys."""
    root = tmp_path / "audits"
    signers, key_files = {}, {}
    for worker in ("w0", "w1"):
        signers[worker] = NoteSigner(generate_signer_key(f"audit-{worker}"))
        key_files[worker] = tmp_path / f"{worker}.pub"
        key_files[worker].write_text(signers[worker].verifier_key + "\n")
        write(root, worker, signers[worker], RECORDS)
    return Logs(root, signers, key_files)


def segment_lines(log_dir: Path) -> list[bytes]:
    return (log_dir / "segment-000000.jsonl").read_bytes().splitlines(keepends=True)


# --- key ---------------------------------------------------------------------------------


def test_key_prints_a_verifier_key_that_verifies_this_workers_log(
    cli: Any, tmp_path: Path
) -> None:
    options = ["--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits")]
    printed = cli("audit", "key", *options)
    assert printed.code == 0
    key = printed.out.strip()
    assert key.startswith("cdp-plugin-w0+") and "PRIVATE" not in printed.out
    config = Config(data_dir=tmp_path / "data", audit_dir=tmp_path / "audits")
    write(config.audit_dir, "w0", load_audit_signer(config), 3)
    result = cli("audit", "verify", str(config.audit_dir), "--key", key)
    assert result.code == 0, result.err
    assert "origin cdp-plugin/w0, 3 records" in result.out


# --- verify ------------------------------------------------------------------------------


def test_verify_checks_every_log_with_the_matching_key(cli: Any, logs: Logs) -> None:
    result = cli("audit", "verify", str(logs.root), "--key", str(logs.key_files["w0"]),
                 "--key", logs.key("w1"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 2
    for line, worker in zip(lines, ("w0", "w1"), strict=True):
        assert line.startswith(f"{logs.log(worker)}: OK: origin cdp-plugin/{worker}, "
                               f"{RECORDS} records, {len(SIZES)} checkpoints, 0 unsigned (")
        assert line.endswith(" records/s)")


def test_verify_accepts_one_log_directory_and_a_file_of_keys(
    cli: Any, logs: Logs, tmp_path: Path
) -> None:
    both = tmp_path / "keys.txt"
    both.write_text(f"{logs.key('w0')}\n\n{logs.key('w1')}\n")
    result = cli("audit", "verify", str(logs.log("w1")), "--key", str(both))
    assert result.code == 0, result.err
    assert result.out.startswith(f"{logs.log('w1')}: OK: origin cdp-plugin/w1")


def test_a_log_without_a_matching_key_fails(cli: Any, logs: Logs) -> None:
    result = cli("audit", "verify", str(logs.root), "--key", logs.key("w0"))
    assert result.code == 1
    assert f"{logs.log('w0')}: OK" in result.out
    assert result.err == (f"{logs.log('w1')}: FAILED: checkpoint 1 in {CHECKPOINTS_LOG}: "
                          "no signature by any of the given keys\n")
    (logs.log("w1") / CHECKPOINTS_LOG).unlink()
    result = cli("audit", "verify", str(logs.log("w1")), "--key", logs.key("w1"))
    assert (result.code, result.err) == (
        1, f"{logs.log('w1')}: FAILED: {CHECKPOINTS_LOG} is missing or empty\n")


def test_a_tampered_log_fails_and_the_failure_is_located(cli: Any, logs: Logs) -> None:
    lines = segment_lines(logs.log("w1"))
    lines[60] = lines[60].replace(b'"drop"', b'"allow"')
    (logs.log("w1") / "segment-000000.jsonl").write_bytes(b"".join(lines))
    result = cli("audit", "verify", str(logs.root), "--key", logs.key("w0"),
                 "--key", logs.key("w1"))
    assert result.code == 1
    assert f"{logs.log('w0')}: OK" in result.out
    assert result.err == (
        f"{logs.log('w1')}: FAILED: checkpoint 4 in {CHECKPOINTS_LOG} (size 75) does not match "
        "the records: a record from segment-000000.jsonl line 51 to segment-000000.jsonl "
        "line 75 was altered\n"
    )


def test_a_bad_line_is_located_by_file_and_line(cli: Any, logs: Logs) -> None:
    lines = segment_lines(logs.log("w0"))
    lines[9] = b"{not json\n"
    (logs.log("w0") / "segment-000000.jsonl").write_bytes(b"".join(lines))
    result = cli("audit", "verify", str(logs.log("w0")), "--key", logs.key("w0"))
    assert result.code == 1
    assert result.err == f"{logs.log('w0')}: FAILED: segment-000000.jsonl line 10: not valid JSON\n"


def test_trusted_checkpoint_must_be_extended(cli: Any, logs: Logs, tmp_path: Path) -> None:
    trusted = tmp_path / "trusted.note"
    shutil.copy(logs.log("w0") / CHECKPOINT_LATEST, trusted)
    write(logs.root, "w0", logs.signers["w0"], 10, start=RECORDS)
    keys = ["--key", logs.key("w0"), "--key", logs.key("w1")]
    result = cli("audit", "verify", str(logs.root), *keys, "--trusted", str(trusted))
    assert result.code == 0, result.err
    assert f"{RECORDS + 10} records" in result.out
    assert f"extends the trusted checkpoint of size {RECORDS}" in result.out

    # Cut w0 back to its checkpoint of size 100: consistent alone, not with what was published.
    log_dir = logs.log("w0")
    notes = [n for n in read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]
             if int(note_text(n.decode()).split("\n")[1]) <= 100]
    (log_dir / CHECKPOINTS_LOG).write_bytes(b"".join(n + b"\n" for n in notes))
    (log_dir / CHECKPOINT_LATEST).write_bytes(notes[-1])
    (log_dir / "segment-000000.jsonl").write_bytes(b"".join(segment_lines(log_dir)[:100]))
    assert cli("audit", "verify", str(log_dir), *keys).code == 0
    result = cli("audit", "verify", str(logs.root), *keys, "--trusted", str(trusted))
    assert result.code == 1
    assert result.err == (f"{log_dir}: FAILED: trusted checkpoint covers {RECORDS} records but "
                          "the segments hold 100\n")


def test_a_trusted_checkpoint_needs_its_log_and_a_known_key(
    cli: Any, logs: Logs, tmp_path: Path
) -> None:
    other = NoteSigner(generate_signer_key("audit-w9"))
    write(tmp_path / "elsewhere", "w9", other, 3)
    trusted = tmp_path / "elsewhere" / "cdp-plugin_w9" / CHECKPOINT_LATEST
    keys = ["--key", logs.key("w0"), "--key", logs.key("w1")]
    result = cli("audit", "verify", str(logs.root), *keys, "--trusted", str(trusted))
    assert result.code == 1
    assert "no signature by any of the given keys" in result.err
    result = cli("audit", "verify", str(logs.root), *keys, "--key", other.verifier_key,
                 "--trusted", str(trusted))
    assert result.code == 1
    assert result.err == (f"{logs.root}: FAILED: no log of origin 'cdp-plugin/w9' for its "
                          "trusted checkpoint (expected in cdp-plugin_w9)\n")


def test_verify_usage_errors(cli: Any, logs: Logs, tmp_path: Path) -> None:
    assert cli("audit", "verify", str(logs.root), "--key", "not-a-key").code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("audit", "verify", str(empty), "--key", logs.key("w0"))
    assert (result.code, result.err) == (1, f"cdp-plugin audit verify: {empty} holds no audit "
                                            "log\n")
    assert cli("audit", "verify", str(tmp_path / "absent"), "--key", logs.key("w0")).code == 1


# --- prove and check-proof ---------------------------------------------------------------


def proof_file(tmp_path: Path, document: Any, name: str = "proof.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_prove_then_check_proof(cli: Any, logs: Logs, tmp_path: Path) -> None:
    result = cli("audit", "prove", "57", "--log", str(logs.log("w0")))
    assert result.code == 0, result.err
    document = result.json()
    assert set(document) == {"origin", "index", "tree_size", "leaf", "leaf_hash", "proof",
                             "checkpoint"}
    assert (document["origin"], document["index"], document["tree_size"]) == (
        "cdp-plugin/w0", 57, RECORDS)
    assert document["leaf"].encode() + b"\n" == segment_lines(logs.log("w0"))[57]
    assert document["checkpoint"] == (logs.log("w0") / CHECKPOINT_LATEST).read_text()
    path = proof_file(tmp_path, document)
    checked = cli("audit", "check-proof", path, "--key", logs.key("w0"))
    assert (checked.code, checked.out) == (0, f"{path}: OK: record 57 is in cdp-plugin/w0 at "
                                              f"tree size {RECORDS}\n")
    # Another worker's key cannot vouch for it.
    wrong = cli("audit", "check-proof", path, "--key", logs.key("w1"))
    assert wrong.code == 1
    assert "checkpoint: no signature by any of the given keys" in wrong.err


def _edit_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["proof"].__setitem__(0, _edit_hex(d["proof"][0])),
         "the proof does not lead from record 57"),
        (lambda d: d["proof"].pop(), "the proof does not lead from record 57"),
        (lambda d: d.update(leaf=d["leaf"].replace("drop", "allow")),
         "leaf_hash is not the hash of leaf"),
        (lambda d: d.update(leaf=d["leaf"].replace("drop", "allow"),
                            leaf_hash=leaf_hash(d["leaf"].replace("drop", "allow").encode()).hex()),
         "the proof does not lead from record 57"),
        (lambda d: d.update(index=58), "leaf: seq is not the index 58"),
        (lambda d: d.update(tree_size=100), "checkpoint: size is 120, not tree_size 100"),
        (lambda d: d.update(checkpoint=d["checkpoint"].replace("\n120\n", "\n121\n")),
         "checkpoint: note signature by key 'audit-w0' does not verify"),
        (lambda d: d.update(origin="cdp-plugin/w1"), "checkpoint: origin is not 'cdp-plugin/w1'"),
        (lambda d: d.update(proof="abc"), "proof field proof must be a list"),
        (lambda d: d["proof"].__setitem__(1, "zz"), "proof[1] must be 64 hex digits"),
    ],
)
def test_a_modified_inclusion_proof_fails(
    cli: Any, logs: Logs, tmp_path: Path, change: Any, message: str
) -> None:
    document = build_inclusion_proof(logs.log("w0"), 57)
    change(document)
    result = cli("audit", "check-proof", proof_file(tmp_path, document), "--key", logs.key("w0"))
    assert result.code == 1
    assert message in result.err


def test_check_proof_reads_stdin_and_rejects_what_is_not_a_proof(
    cli: Any, logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = build_inclusion_proof(logs.log("w1"), 0)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(document)))
    assert cli("audit", "check-proof", "-", "--key", logs.key("w1")).code == 0
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nope")
    result = cli("audit", "check-proof", str(garbage), "--key", logs.key("w1"))
    assert (result.code, result.err) == (1, f"{garbage}: FAILED: not valid JSON\n")
    result = cli("audit", "check-proof", proof_file(tmp_path, {"origin": "x", "proof": []}),
                 "--key", logs.key("w1"))
    assert result.code == 1 and "not a proof" in result.err


def test_prove_refuses_what_it_cannot_prove(cli: Any, logs: Logs) -> None:
    log_dir = str(logs.log("w0"))
    result = cli("audit", "prove", str(RECORDS), "--log", log_dir)
    assert result.code == 1
    assert "record 120 is not covered by the latest signed checkpoint (size 120)" in result.err
    lines = segment_lines(logs.log("w0"))
    lines[3] = lines[3].replace(b"drop", b"keep")
    (logs.log("w0") / "segment-000000.jsonl").write_bytes(b"".join(lines))
    result = cli("audit", "prove", "7", "--log", log_dir)
    assert result.code == 1
    assert "the records do not match the signed checkpoint of size 120" in result.err


def test_prove_defaults_to_this_workers_log(cli: Any, logs: Logs, tmp_path: Path) -> None:
    options = ["--audit-dir", str(logs.root), "--worker-id", "w1",
               "--data-dir", str(tmp_path / "data")]
    result = cli("audit", "prove", "3", *options)
    assert result.code == 0, result.err
    assert result.json()["origin"] == "cdp-plugin/w1"


# --- consistency -------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [(25, 120), (50, 100), (0, 75), (100, 100)])
def test_consistency_then_check_proof(
    cli: Any, logs: Logs, tmp_path: Path, old: int, new: int
) -> None:
    result = cli("audit", "consistency", str(old), str(new), "--log", str(logs.log("w1")))
    assert result.code == 0, result.err
    document = result.json()
    assert set(document) == {"origin", "old", "new", "proof"}
    assert (document["old"]["size"], document["new"]["size"]) == (old, new)
    assert set(document["old"]) == {"size", "root", "checkpoint"}
    path = proof_file(tmp_path, document)
    checked = cli("audit", "check-proof", path, "--key", logs.key("w1"))
    assert (checked.code, checked.out) == (
        0, f"{path}: OK: cdp-plugin/w1 at tree size {old} is a prefix of tree size {new}\n")


def test_a_modified_consistency_proof_fails(cli: Any, logs: Logs, tmp_path: Path) -> None:
    document = cli("audit", "consistency", "25", "120", "--log", str(logs.log("w1"))).json()
    key = ["--key", logs.key("w1")]
    forged = json.loads(json.dumps(document))
    forged["proof"][-1] = _edit_hex(forged["proof"][-1])
    result = cli("audit", "check-proof", proof_file(tmp_path, forged), *key)
    assert result.code == 1
    assert "does not show tree size 25 is a prefix of tree size 120" in result.err
    forged = json.loads(json.dumps(document))
    forged["old"]["root"] = _edit_hex(forged["old"]["root"])
    result = cli("audit", "check-proof", proof_file(tmp_path, forged), *key)
    assert result.code == 1
    assert "old.checkpoint: size or root differs from old.size/root" in result.err


def test_consistency_needs_two_checkpoint_sizes(cli: Any, logs: Logs) -> None:
    log_dir = str(logs.log("w0"))
    result = cli("audit", "consistency", "26", "120", "--log", log_dir)
    assert result.code == 1
    assert "no signed checkpoint of size 26 in checkpoints.log" in result.err
    result = cli("audit", "consistency", "100", "50", "--log", log_dir)
    assert result.code == 1
    assert "the old size 100 is larger than the new size 50" in result.err


# --- the proof library ---------------------------------------------------------------------


def test_streamed_proofs_equal_the_reference_proofs() -> None:
    leaves = [leaf_hash(f"leaf {i}".encode()) for i in range(40)]
    for size in range(1, 41):
        for index in range(size):
            ranges = inclusion_ranges(index, size)
            roots, _ = range_roots(iter(leaves), size, ranges)
            assert [roots[r] for r in ranges] == inclusion_proof(index, size, leaves)
        for old in range(size + 1):
            ranges = consistency_ranges(old, size)
            roots, prefixes = range_roots(iter(leaves), size, ranges, [old, size])
            assert [roots[r] for r in ranges] == consistency_proof(old, size, leaves)
            assert prefixes[old] == root_from_leaf_hashes(leaves[:old])


def test_range_roots_needs_enough_leaves() -> None:
    with pytest.raises(ValueError, match="holds 3 records, fewer than 5"):
        range_roots(iter([leaf_hash(b"x")] * 3), 5, [])


def test_check_proof_names_the_missing_fields(logs: Logs) -> None:
    verifiers = audit_cli.load_verifiers([logs.key("w0")])
    with pytest.raises(ProofError, match="proof field tree_size must be a int"):
        check_proof({"origin": "cdp-plugin/w0", "proof": [], "index": 1}, verifiers)


# --- the command line itself ----------------------------------------------------------------


def _audit_actions() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    audit = commands.choices["audit"]
    actions = next(a for a in audit._actions if isinstance(a, argparse._SubParsersAction))
    return dict(actions.choices)


def test_every_audit_command_has_help_and_a_description() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    assert helps["audit"] and commands.choices["audit"].description
    audit = commands.choices["audit"]
    actions = next(a for a in audit._actions if isinstance(a, argparse._SubParsersAction))
    for choice in actions._choices_actions:
        assert choice.help, choice.dest
        assert actions.choices[choice.dest].description, choice.dest
    assert {"key", "verify", "prove", "consistency", "check-proof"} <= set(actions.choices)


def test_the_report_command_plugs_in_when_it_is_installed() -> None:
    installed = importlib.util.find_spec("cdp_plugin.cli.audit_report") is not None
    assert ("report" in _audit_actions()) == installed


def test_prove_names_an_incomplete_line(cli: Any, logs: Logs) -> None:
    log_dir = logs.log("w0")
    lines = segment_lines(log_dir)
    lines[40] = lines[40][:-1]
    (log_dir / "segment-000000.jsonl").write_bytes(b"".join(lines[:41]))
    result = cli("audit", "prove", "3", "--log", str(log_dir))
    assert result.code == 1
    assert "segment-000000.jsonl line 41: incomplete line (no newline)" in result.err
