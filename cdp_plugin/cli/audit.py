"""`cdp-plugin audit`: the verifier key, verification, and proofs of audit logs.

Exit codes: 0 when everything checked holds; 1 when a log or proof fails, or
a file cannot be read; 2 on bad usage, such as a key that is neither a
verifier key nor a file holding one (raised as ``ConfigError``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cdp_plugin.audit.note import Checkpoint, NoteError, NoteVerifier, note_text, parse_checkpoint
from cdp_plugin.audit.proofs import (
    ProofError,
    build_consistency_proof,
    build_inclusion_proof,
    check_proof,
)
from cdp_plugin.audit.verify import (
    CHECKPOINTS_LOG,
    default_workers,
    is_log_directory,
    log_slug,
    read_checkpoint_log,
    verifier_for_log,
    verifier_for_note,
    verify_log,
)
from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.errors import ConfigError
from cdp_plugin.keys.audit_signer import load_audit_signer

_ReportHook = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
register_report: _ReportHook | None
try:  # `audit report` lives in its own module and plugs in when it is installed
    from cdp_plugin.cli.audit_report import register_report
except ImportError:
    register_report = None

_PREFIX = "cdp-plugin audit"
_KEY_HELP = ("verifier key text (<name>+<id>+<key>), or a file holding one key per line; "
             "repeat for logs signed by different keys")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser(
        "audit", help="verify audit logs and prove what they hold",
        description="Print this worker's verifier key, verify tamper-evident audit logs, and "
                    "build and check inclusion and consistency proofs (see audits/README.md).")
    actions = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    key = actions.add_parser(
        "key", help="print the verifier key of this worker's audit signing key",
        description="Print the signed-note verifier key (<name>+<id>+<key>) that matches the "
                    "configured audit signing key. Give it to auditors: it verifies the logs "
                    "and proofs, and cannot sign.")
    add_config_options(key)
    key.set_defaults(handler=key_command)

    verify = actions.add_parser(
        "verify", help="verify one audit log or a directory of logs",
        description="Recompute every Merkle root from the raw records, check every checkpoint "
                    "signature, that checkpoint sizes never decrease and match the records, and "
                    "the record numbering. Prints one line per log; exits 1 and names the first "
                    "failure (log, segment file and line, or checkpoint number) if any log fails.")
    verify.add_argument("directory", metavar="DIR",
                        help="a log directory, or a directory holding one log per worker")
    verify.add_argument("--key", metavar="VKEY", dest="keys", action="append", required=True,
                        help=_KEY_HELP)
    verify.add_argument("--trusted", metavar="CHECKPOINT_FILE", action="append", default=[],
                        help="a signed checkpoint kept from earlier (e.g. a copy of "
                             "checkpoint.latest): the log of its origin must extend it; repeat "
                             "for several logs")
    verify.add_argument("--workers", type=int, metavar="N",
                        help="processes that read a large log (default: one per CPU)")
    verify.set_defaults(handler=verify_command)

    prove = actions.add_parser(
        "prove", help="print an inclusion proof of one record (JSON)",
        description="Print a JSON inclusion proof that record INDEX is in the tree of the log's "
                    "latest signed checkpoint; 'audit check-proof' checks it with the public "
                    "key alone.")
    prove.add_argument("index", type=int, metavar="INDEX", help="the record's seq")
    prove.add_argument("--log", metavar="DIR",
                       help="log directory (default: this worker's log in the audit directory)")
    add_config_options(prove)
    prove.set_defaults(handler=prove_command)

    consistency = actions.add_parser(
        "consistency", help="print a consistency proof between two checkpoints (JSON)",
        description="Print a JSON proof that the log's signed tree of OLD records is a prefix "
                    "of its signed tree of NEW records: nothing was changed, only appended. "
                    "Both must be sizes of checkpoints in checkpoints.log.")
    consistency.add_argument("old", type=int, metavar="OLD", help="size of the older checkpoint")
    consistency.add_argument("new", type=int, metavar="NEW", help="size of the newer checkpoint")
    consistency.add_argument("--log", metavar="DIR",
                             help="log directory (default: this worker's log in the audit "
                                  "directory)")
    add_config_options(consistency)
    consistency.set_defaults(handler=consistency_command)

    check = actions.add_parser(
        "check-proof", help="check a proof printed by 'prove' or 'consistency'",
        description="Check an inclusion or consistency proof using only verifier keys: the "
                    "checkpoint signatures, that they state the proof's sizes and roots, and "
                    "the RFC 9162 proof itself. Exits 0 if it holds, 1 if not.")
    check.add_argument("file", metavar="FILE", help="the proof JSON file, or - for stdin")
    check.add_argument("--key", metavar="VKEY", dest="keys", action="append", required=True,
                       help=_KEY_HELP)
    check.set_defaults(handler=check_proof_command)

    if register_report is not None:
        register_report(actions)


def load_verifiers(values: Sequence[str]) -> list[NoteVerifier]:
    """Verifiers from key texts or files of keys; ``ConfigError`` naming the bad option.

    A value that names an existing file is read as one key per non-empty line;
    otherwise it is the key text itself. Messages name files, never key text.
    """
    verifiers = []
    for number, value in enumerate(values, 1):
        path = Path(value)
        try:
            is_file = path.is_file()
        except (OSError, ValueError):  # key text that cannot be a file name
            is_file = False
        source = f"--key file {path}" if is_file else f"--key {number}"
        try:
            texts = path.read_text(encoding="utf-8").split() if is_file else [value]
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read it ({type(exc).__name__})") from None
        if not texts:
            raise ConfigError(f"{source}: holds no key")
        for text in texts:
            try:
                verifiers.append(NoteVerifier(text))
            except NoteError as exc:
                raise ConfigError(f"{source}: not a verifier key ({exc})") from None
    return verifiers


def key_command(args: argparse.Namespace) -> int:
    print(load_audit_signer(config_from_args(args, needs_rules=False)).verifier_key)
    return 0


def _claimed_origin(log_dir: Path) -> str | None:
    """The origin of the log's first checkpoint, unverified (to match trusted checkpoints)."""
    notes = read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]
    try:
        return parse_checkpoint(note_text(notes[0].decode())).origin if notes else None
    except (NoteError, UnicodeDecodeError):
        return None


def _read_trusted(path: Path, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """The checkpoint in a signed note file; ``NoteError`` if no given key signed it."""
    try:
        note = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NoteError(f"cannot read it ({type(exc).__name__})") from None
    verifier = verifier_for_note(note, verifiers)
    if verifier is None:
        raise NoteError("no signature by any of the given keys")
    return parse_checkpoint(verifier.verify(note))


def _fail(message: str) -> None:
    print(message, file=sys.stderr)


def verify_command(args: argparse.Namespace) -> int:
    verifiers = load_verifiers(args.keys)
    workers = default_workers() if args.workers is None else max(args.workers, 1)
    directory = Path(args.directory)
    if not directory.is_dir():
        _fail(f"{_PREFIX} verify: {directory} is not a directory")
        return 1
    if is_log_directory(directory):
        logs = [directory]
    else:
        logs = sorted(p for p in directory.iterdir() if p.is_dir() and is_log_directory(p))
    if not logs:
        _fail(f"{_PREFIX} verify: {directory} holds no audit log")
        return 1
    trusted: dict[str, Checkpoint] = {}
    for file in args.trusted:
        try:
            checkpoint = _read_trusted(Path(file), verifiers)
        except NoteError as exc:
            _fail(f"{_PREFIX} verify: trusted checkpoint {file}: {exc}")
            return 1
        known = trusted.setdefault(checkpoint.origin, checkpoint)
        if known.size < checkpoint.size:
            trusted[checkpoint.origin] = checkpoint
    origins = {log_dir: _claimed_origin(log_dir) for log_dir in logs}
    failed = False
    for origin in sorted(set(trusted) - set(origins.values())):
        _fail(f"{directory}: FAILED: no log of origin {origin!r} for its trusted checkpoint "
              f"(expected in {log_slug(origin)})")
        failed = True
    for log_dir in logs:
        failed |= not _verify_one(log_dir, verifiers, trusted.get(origins[log_dir] or ""), workers)
    return 1 if failed else 0


def _verify_one(log_dir: Path, verifiers: Sequence[NoteVerifier], trusted: Checkpoint | None,
                workers: int) -> bool:
    verifier = verifier_for_log(log_dir, verifiers)
    if verifier is None:
        if read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]:
            _fail(f"{log_dir}: FAILED: checkpoint 1 in {CHECKPOINTS_LOG}: no signature by any "
                  "of the given keys")
            return False
        verifier = verifiers[0]  # no checkpoint at all: verify_log says what is missing
    started = time.perf_counter()
    try:
        report = verify_log(log_dir, verifier, trusted, workers=workers)
    except OSError as exc:
        _fail(f"{log_dir}: FAILED: cannot read {Path(exc.filename or '?').name}: {exc.strerror}")
        return False
    elapsed = max(time.perf_counter() - started, 1e-9)
    if not report.ok or report.latest is None:
        _fail(f"{log_dir}: FAILED: {report.failure}")
        return False
    extends = f", extends the trusted checkpoint of size {trusted.size}" if trusted else ""
    print(f"{log_dir}: OK: origin {report.latest.origin}, {report.records} records, "
          f"{report.checkpoints} checkpoints, {report.unsigned_tail} unsigned{extends} "
          f"({report.records / elapsed:,.0f} records/s)")
    return True


def _log_dir(args: argparse.Namespace) -> Path:
    if args.log:
        return Path(args.log)
    config = config_from_args(args, needs_rules=False)
    return config.audit_dir / log_slug(config.audit_origin)


def _print_proof(build: Callable[[Path], dict[str, Any]], args: argparse.Namespace,
                 command: str) -> int:
    log_dir = _log_dir(args)
    try:
        document = build(log_dir)
    except ProofError as exc:
        _fail(f"{_PREFIX} {command}: {log_dir}: {exc}")
        return 1
    except OSError as exc:
        _fail(f"{_PREFIX} {command}: {log_dir}: cannot read "
              f"{Path(exc.filename or '?').name}: {exc.strerror}")
        return 1
    print(json.dumps(document, indent=2))
    return 0


def prove_command(args: argparse.Namespace) -> int:
    return _print_proof(lambda log_dir: build_inclusion_proof(log_dir, args.index), args, "prove")


def consistency_command(args: argparse.Namespace) -> int:
    return _print_proof(lambda log_dir: build_consistency_proof(log_dir, args.old, args.new),
                        args, "consistency")


def check_proof_command(args: argparse.Namespace) -> int:
    verifiers = load_verifiers(args.keys)
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        summary = check_proof(json.loads(text), verifiers)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{_PREFIX} check-proof: cannot read {args.file} ({type(exc).__name__})")
        return 1
    except ProofError as exc:
        _fail(f"{args.file}: FAILED: {exc}")
        return 1
    except ValueError:
        _fail(f"{args.file}: FAILED: not valid JSON")
        return 1
    print(f"{args.file}: OK: {summary}")
    return 0
