"""Events per second through the full pipeline against a JSON pass-through floor.

Run: ``python benchmarks/pipeline.py [--events N] [--repeat R] [--batch B]``.

Both measurements use the same synthetic events (the demo generator's
realistic mix: in-event consent, preference updates, no-consent subjects,
malformed lines and replays) in the same run. The floor is ``json.loads`` +
``json.dumps`` per line, the least any ingest step must do. Each pipeline
repeat starts on a fresh SQLite store and audit log in a temporary
directory, with checkpoints at their defaults. Medians are reported because
machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import json_floor, scratch_pipeline

from cdp_plugin.synthetic import StreamItem, generate_stream
from cdp_plugin.types import Status


def _stream(count: int) -> list[StreamItem]:
    items: list[StreamItem] = []
    events = 0
    for item in generate_stream(seed=11, subjects=max(count // 20, 100), days=30):
        items.append(item)
        events += item.event is not None
        if events >= count:
            break
    return items


def _floor(lines: list[bytes]) -> float:
    started = time.perf_counter_ns()
    json_floor(lines)
    return (time.perf_counter_ns() - started) / 1e9


def _pipeline(items: list[StreamItem], batch_size: int) -> tuple[float, dict[str, int]]:
    statuses: dict[str, int] = {}
    with scratch_pipeline() as pipeline:
        batch: list[bytes] = []
        started = time.perf_counter_ns()
        for item in items:
            if item.event is not None:
                batch.append(json.dumps(item.event, separators=(",", ":")).encode())
                if len(batch) < batch_size:
                    continue
            elif item.preference is not None:
                pipeline.record_consent(item.preference)
            for outcome in pipeline.process_batch(batch):
                if outcome.status is Status.FORWARDED:
                    json.dumps(outcome.event, separators=(",", ":"))
                statuses[outcome.status.value] = statuses.get(outcome.status.value, 0) + 1
            batch = []
        for outcome in pipeline.process_batch(batch):
            statuses[outcome.status.value] = statuses.get(outcome.status.value, 0) + 1
        elapsed = (time.perf_counter_ns() - started) / 1e9
    return elapsed, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    items = _stream(args.events)
    lines = [json.dumps(i.event, separators=(",", ":")).encode() for i in items if i.event]
    n = len(lines)
    floor_rates, pipeline_rates = [], []
    statuses: dict[str, int] = {}
    for _ in range(args.repeat):
        floor_rates.append(n / _floor(lines))
        elapsed, statuses = _pipeline(items, args.batch)
        pipeline_rates.append(n / elapsed)
    floor = statistics.median(floor_rates)
    full = statistics.median(pipeline_rates)
    print(f"{n} events, {len(items) - n} preference updates, median of {args.repeat} repeats")
    print(f"outcomes per run: {json.dumps(statuses, sort_keys=True)}")
    print(f"{'measurement':<42} {'events/s':>10} {'us/event':>9}")
    print(f"{'floor: json.loads + json.dumps':<42} {floor:>10.0f} {1e6 / floor:>9.2f}")
    print(f"{'full pipeline (SQLite, audit log, fsync)':<42} {full:>10.0f} {1e6 / full:>9.2f}")
    print(f"ratio floor/pipeline: {floor / full:.1f}x (pipeline costs that many pass-throughs)")


if __name__ == "__main__":
    main()
