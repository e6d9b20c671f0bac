"""A long run through the full pipeline: throughput, memory and state size as the store grows.

Run: ``python benchmarks/scale.py [--events 1000000] [--every 100000] [--store DSN]``.

The demo generator's mix (``events / 20`` subjects over 30 days, preference
updates included) runs through one pipeline on a fresh store and audit log
with fsync at its default. Events are encoded in chunks of 10,000 before the
clock starts for the chunk, so the generator's time is not counted; the JSON
pass-through floor is measured on every chunk in the same run. Every
``--every`` events it prints events/s for that stretch (and the ratio to the
floor), the process's resident memory now and at its peak, and the store's
size per subject seen so far (after a first line with the memory the
generator itself holds); at the end, the median and 95th percentile of
a profile's JSON size, and the audit log's bytes per event.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

from common import Item, feed, json_floor, scratch_pipeline, scratch_store

from cdp_plugin.pipeline import Pipeline
from cdp_plugin.synthetic import StreamItem, generate_stream

CHUNK = 10_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def _chunks(stream: Iterator[StreamItem], events: int) -> Iterator[list[Item]]:
    """``events`` events of ``stream``, ``CHUNK`` at a time, each encoded as a JSON line."""
    chunk: list[Item] = []
    count = 0
    for item in stream:
        if item.preference is not None:
            chunk.append(item.preference)
            continue
        if item.event is None:
            continue
        chunk.append(json.dumps(item.event, separators=(",", ":")).encode())
        count += 1
        if count >= events:
            break
        if count % CHUNK == 0:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run(pipeline: Pipeline, chunk: list[Item], batch_size: int) -> float:
    started = time.perf_counter_ns()
    feed(pipeline, chunk, batch_size)
    return (time.perf_counter_ns() - started) / 1e9


def _rss_mb() -> tuple[float, float]:
    """Resident memory now and at its peak, in MB."""
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * PAGE
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return resident / 1e6, peak / 1e6


def _files_size(*paths: Path) -> int:
    return sum(f.stat().st_size for p in paths if p.exists()
               for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())


def _subjects(pipeline: Pipeline) -> int:
    return sum(1 for _ in pipeline.runtime.store.iter_profiles())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--store", default=None,
                        help="a postgresql:// DSN (default: SQLite in a temporary directory)")
    args = parser.parse_args()

    # The generator plans every subject's timeline up front: its memory is the
    # baseline, printed first, that the pipeline's own adds to.
    stream = generate_stream(seed=13, subjects=max(args.events // 20, 100), days=30)
    print(f"RSS with the stream planned, before the pipeline opens: {_rss_mb()[0]:.0f} MB")
    print(f"{'events':>9} {'events/s':>9} {'floor x':>8} {'RSS MB':>7} {'peak MB':>8} "
          f"{'profiles':>9} {'store B/profile':>16}", flush=True)
    with scratch_store(args.store) as target, scratch_pipeline(store=target) as pipeline:
        config = pipeline.runtime.config
        store_file = Path(config.store_target)
        done = stretch_events = 0
        stretch_time = stretch_floor = 0.0
        rates: list[float] = []
        for chunk in _chunks(stream, args.events):
            lines = [item for item in chunk if isinstance(item, bytes)]
            started = time.perf_counter_ns()
            json_floor(lines)
            stretch_floor += (time.perf_counter_ns() - started) / 1e9
            stretch_time += _run(pipeline, chunk, args.batch)
            done += len(lines)
            stretch_events += len(lines)
            if stretch_events >= args.every or done >= args.events:
                rate = stretch_events / stretch_time
                rates.append(rate)
                now, peak = _rss_mb()
                profiles = _subjects(pipeline)
                size = (_files_size(store_file, Path(f"{store_file}-wal"))
                        if target is None else 0)
                per_profile = f"{size / max(profiles, 1):>16.0f}" if size else f"{'-':>16}"
                print(f"{done:>9} {rate:>9.0f} {stretch_time / stretch_floor:>8.1f} "
                      f"{now:>7.0f} {peak:>8.0f} {profiles:>9} {per_profile}", flush=True)
                stretch_events, stretch_time, stretch_floor = 0, 0.0, 0.0
        sizes = sorted(len(json.dumps(data, separators=(",", ":")))
                       for _, data in pipeline.runtime.store.iter_profiles())
        audit_bytes = _files_size(config.audit_dir)
    print(f"median events/s over the stretches: {statistics.median(rates):.0f}")
    if sizes:
        p95 = sizes[min(len(sizes) - 1, int(len(sizes) * 0.95))]
        print(f"profile JSON per subject: median {statistics.median(sizes):.0f} B, "
              f"p95 {p95} B, max {sizes[-1]} B ({len(sizes)} profiles)")
    print(f"audit log: {audit_bytes / max(done, 1):.0f} B per event")


if __name__ == "__main__":
    main()
