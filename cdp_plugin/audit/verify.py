"""Check an audit log directory end to end and report the outcome.

:func:`verify_log` combines the checkpoints (:mod:`cdp_plugin.audit.checkpoints`)
with one scan of the records (:mod:`cdp_plugin.audit.scan`): every checkpoint
must match the root recomputed at its size. The layout helpers, the scan and
the verifier look-ups are re-exported here, where callers have long imported
them from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cdp_plugin.audit.checkpoints import (
    Claim,
    signature_keys,
    signed_checkpoints,
    verifier_for_log,
    verifier_for_note,
)
from cdp_plugin.audit.layout import (
    CHECKPOINT_LATEST,
    CHECKPOINTS_LOG,
    is_log_directory,
    list_segments,
    log_slug,
    read_checkpoint_log,
    segment_name,
)
from cdp_plugin.audit.note import Checkpoint, NoteVerifier
from cdp_plugin.audit.refusal import REFUSALS_LOG, read_refusals
from cdp_plugin.audit.scan import RecordScan, StopCheck, default_workers, scan_records

__all__ = [
    "CHECKPOINTS_LOG",
    "CHECKPOINT_LATEST",
    "RecordScan",
    "StopCheck",
    "VerifyReport",
    "default_workers",
    "is_log_directory",
    "list_segments",
    "log_slug",
    "read_checkpoint_log",
    "scan_records",
    "segment_name",
    "signature_keys",
    "verifier_for_log",
    "verifier_for_note",
    "verify_directory",
    "verify_log",
]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of checking one log.

    ``failure`` is the first problem found, saying where (segment file and
    line, or checkpoint number); ``records`` counts records checked before it.
    ``unsigned_tail`` counts valid records past the latest checkpoint, which
    is not a failure: the writer signs them at its next checkpoint.
    """

    ok: bool
    records: int
    checkpoints: int
    failure: str | None = None
    unsigned_tail: int = 0
    latest: Checkpoint | None = None


_TRUSTED = "trusted checkpoint"


def verify_log(
    log_dir: Path,
    verifier: NoteVerifier,
    trusted: Checkpoint | None = None,
    *,
    origin: str | None = None,
    workers: int = 1,
) -> VerifyReport:
    """Check one log directory: record hashes and numbering, and every checkpoint.

    Each checkpoint (every entry of ``checkpoints.log``, and ``checkpoint.latest``)
    must be signed by ``verifier``'s key, carry the same origin (``origin`` or
    ``trusted.origin`` if given, else the first checkpoint's), never shrink, and
    match the root recomputed at its size. If ``trusted`` is given the log must
    extend it. A log whose writer refused to continue it (``refusals.log``)
    fails too, after every other check passed. ``workers`` > 1 reads a large
    log (64 MiB or more) in that many processes, started with the ``spawn``
    method: call it from a program whose main module is import-safe
    (``if __name__ == "__main__":``).
    :func:`default_workers` gives one per CPU. Never raises for bad content;
    raises ``OSError`` if a file cannot be read.
    """
    if not log_dir.is_dir():
        return VerifyReport(False, 0, 0, f"{log_dir.name} is not a log directory")
    expected = origin or (trusted.origin if trusted else None)
    claims, failure = signed_checkpoints(log_dir, verifier, expected)
    logged = [c for where, c in claims if where != CHECKPOINT_LATEST]
    if failure is None and not logged:
        # The writer signs a checkpoint when it creates a log: records without one are not ours.
        failure = f"{CHECKPOINTS_LOG} is missing or empty"
    if failure is not None:
        return VerifyReport(False, 0, len(logged), failure)
    if trusted is not None:
        claims.append((_TRUSTED, trusted))
    # Checked in size order, so the first failure is the earliest in the log and the
    # scan can stop as soon as it reaches a size whose root is wrong.
    claims.sort(key=lambda claim: claim[1].size)
    by_size: dict[int, list[bytes]] = {}
    for _, claim in claims:
        by_size.setdefault(claim.size, []).append(claim.root)

    def wrong_root(size: int, root: bytes) -> bool:
        return any(claimed != root for claimed in by_size[size])

    scan = scan_records(log_dir, by_size, stop=wrong_root, workers=workers)
    failure = scan.failure or _check_roots(scan, claims)
    if failure is not None:
        return VerifyReport(False, scan.records, len(logged), failure)
    latest = max(logged, key=lambda c: c.size, default=None)
    tail = scan.records - (latest.size if latest else 0)
    refusals = read_refusals(log_dir)
    if refusals:
        # The records hold, but the writer found something it could not vouch for.
        failure = (f"{REFUSALS_LOG}: the writer refused to continue this log "
                   f"{len(refusals)} time(s), last because {refusals[-1]}")
        return VerifyReport(False, scan.records, len(logged), failure, tail, latest)
    return VerifyReport(True, scan.records, len(logged), None, tail, latest)


def _check_roots(scan: RecordScan, claims: list[Claim]) -> str | None:
    """The first checkpoint, by size, whose root differs from the records', located."""
    matched = 0  # the records below this index matched an earlier checkpoint
    for where, claim in claims:
        if claim.size > scan.records:
            return f"{where} covers {claim.size} records but the segments hold {scan.records}"
        if scan.roots[claim.size] != claim.root:
            if claim.size == 0:
                return f"{where} (size 0) does not carry the empty tree's root"
            # A trusted checkpoint comes from another view of the log: the log's own
            # checkpoints say nothing about where that view and these records part.
            start = 0 if where == _TRUSTED else min(matched, claim.size - 1)
            first = scan.locate(start)
            return (
                f"{where} (size {claim.size}) does not match the records: "
                f"a record from {first} to {scan.locate(claim.size - 1)} was altered"
            )
        matched = claim.size
    return None


def verify_directory(
    directory: Path, verifier: NoteVerifier, *, workers: int = 1
) -> list[tuple[str, VerifyReport]]:
    """Verify every log under ``directory``: each subdirectory holding segments or checkpoints."""
    results = []
    for log_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        if is_log_directory(log_dir):
            results.append((log_dir.name, verify_log(log_dir, verifier, workers=workers)))
    return results
