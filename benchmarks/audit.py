"""Audit log cost: appending against a plain JSONL floor, and verification speed.

Run: ``python benchmarks/audit.py [--records N] [--verify-records M] [--repeat R]``.

All measurements use the same realistic ``event.decision`` records (the shape
the pipeline writes) in the same run; medians are reported because machines
are shared and noisy.

(a) floor: the records (``seq`` and ``ts`` already in them) serialized
    canonically with ``json.dumps`` and written to a file, 500 lines per
    write followed by ``fsync``: what any durable JSONL log costs.
(b) ``AuditLog.append`` with its defaults (a signed checkpoint every 1000
    records or 1 s), ``flush()`` (with fsync) every 500 records, through
    ``close()``; amortized per record. It also sets ``seq`` and ``ts``, hashes
    each line and keeps the Merkle tree.
(c) ``verify_log`` on a log of M records (built once, with ``fsync=False`` to
    build fast), in one process and with one worker process per CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdp_plugin.audit import AuditLog, NoteSigner, NoteVerifier, generate_signer_key  # noqa: E402
from cdp_plugin.audit.layout import log_slug  # noqa: E402
from cdp_plugin.audit.scan import default_workers  # noqa: E402
from cdp_plugin.audit.verify import verify_log  # noqa: E402

ORIGIN = "cdp-plugin/bench"
FLUSH_EVERY = 500
_DUMPS: dict[str, Any] = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False,
                          "allow_nan": False}


def decisions(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """Decision records as the pipeline writes them, without ``seq`` and ``ts``."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        action = rng.choice(("allow", "allow", "drop", "quarantine"))
        purposes = sorted(rng.sample(("analytics", "marketing", "personalization"), 2))
        records.append({
            "kind": "event.decision", "message_id": f"msg-{i:08d}",
            "subject": f"s_{rng.getrandbits(128):032x}", "type": "track",
            "event": rng.choice(("Product Viewed", "Order Completed", "Email Opened")),
            "action": action,
            "reasons": ["consent.granted"] if action == "allow" else ["consent.denied"],
            "purposes": purposes if action == "allow" else [],
            "consent": {"analytics": "granted", "marketing": rng.choice(("granted", "denied"))},
            "jurisdiction": rng.choice(("EU", "US-CA", "BR")), "rules_version": "3f9c2a1b",
            "minimization": {"dropped": ["context.ip"], "hashed": ["traits.email"]}
            if action == "allow" else {},
            "segments": [],
        })
    return records


def floor(records: list[dict[str, Any]], directory: Path) -> float:
    """Seconds to serialize ``records`` canonically and write them durably in batches."""
    stamped = [record | {"seq": i, "ts": "2024-05-01T12:00:00.000000Z"}
               for i, record in enumerate(records)]
    path = directory / "floor.jsonl"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        batch: list[bytes] = []
        for record in stamped:
            batch.append(json.dumps(record, **_DUMPS).encode() + b"\n")
            if len(batch) == FLUSH_EVERY:
                os.write(fd, b"".join(batch))
                os.fsync(fd)
                batch = []
        if batch:
            os.write(fd, b"".join(batch))
            os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def append(records: list[dict[str, Any]], directory: Path, signer: NoteSigner) -> float:
    """Seconds to append ``records`` with default checkpoints, flushing every 500."""
    log = AuditLog(directory, ORIGIN, signer)
    started = time.perf_counter()
    for count, record in enumerate(records, 1):
        log.append(record)
        if count % FLUSH_EVERY == 0:
            log.flush()
    log.close()
    return time.perf_counter() - started


def build(records: list[dict[str, Any]], count: int, directory: Path, signer: NoteSigner) -> Path:
    """A log of ``count`` records (the sample repeated) written without fsync."""
    with AuditLog(directory, ORIGIN, signer, fsync=False, checkpoint_interval=3600.0) as log:
        for i in range(count):
            log.append(records[i % len(records)])
            if i % FLUSH_EVERY == FLUSH_EVERY - 1:
                log.flush()
    return directory / log_slug(ORIGIN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records for (a) and (b)")
    parser.add_argument("--verify-records", type=int, default=1_000_000,
                        help="records in the log verified for (c)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each measurement")
    args = parser.parse_args()

    signer = NoteSigner(generate_signer_key("bench"))
    verifier = NoteVerifier(signer.verifier_key)
    records = decisions(args.records)
    workers = default_workers()
    with tempfile.TemporaryDirectory() as tmp:
        floors, appends = [], []
        for repeat in range(args.repeat):
            floors.append(floor(records, Path(tmp)))
            appends.append(append(records, Path(tmp) / f"append-{repeat}", signer))
        print(f"building a {args.verify_records}-record log to verify ...", file=sys.stderr)
        built = time.perf_counter()
        log_dir = build(records, args.verify_records, Path(tmp) / "verify", signer)
        build_seconds = time.perf_counter() - built
        verifies: dict[int, list[float]] = {1: [], workers: []}
        for _ in range(args.repeat):
            for count in verifies:
                started = time.perf_counter()
                report = verify_log(log_dir, verifier, workers=count)
                verifies[count].append(time.perf_counter() - started)
                assert report.ok and report.records == args.verify_records, report.failure
        size_mb = sum(p.stat().st_size for p in log_dir.glob("segment-*.jsonl")) / 1e6

    n, m = args.records, args.verify_records
    a, b = statistics.median(floors), statistics.median(appends)
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, median of {args.repeat}; "
          f"records of about {size_mb * 1e6 / m:.0f} bytes")
    print(f"{'measurement':<58} {'seconds':>8} {'us/record':>10} {'records/s':>11}")
    rows = [
        ("(a) floor: json.dumps + write, fsync every 500", n, a),
        ("(b) AuditLog.append: checkpoint/1000, flush+fsync/500", n, b),
        *((f"(c) verify_log of {m} records, {count} process{'es' if count > 1 else ''}", m,
           statistics.median(times)) for count, times in verifies.items()),
    ]
    for label, count, seconds in rows:
        print(f"{label:<58} {seconds:>8.2f} {seconds / count * 1e6:>10.2f} "
              f"{count / seconds:>11,.0f}")
    print(f"ratio (b)/(a): {b / a:.2f}   (building the {m}-record log without fsync took "
          f"{build_seconds:.1f} s; its segments hold {size_mb:.0f} MB)")


if __name__ == "__main__":
    main()
