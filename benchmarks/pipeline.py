"""Events per second through the full pipeline against JSON pass-through floors.

Run: ``python benchmarks/pipeline.py [--events N] [--repeat R] [--batch B] [--store DSN]``.

All measurements use the same synthetic events (the demo generator's
realistic mix: in-event consent, preference updates, no-consent subjects,
malformed lines and replays), encoded as JSON lines before any clock starts,
in the same run. The floor is ``json.loads`` + ``json.dumps`` per line, the
least any ingest step must do; the ``orjson`` floor is the same pass-through
with the fastest well-kept JSON library, a second reference. Both floors are
timed right before and right after each pipeline repeat and averaged, so a
load that drifts during the run skews neither side; the ratio printed is the
median of the repeats' ratios. Each pipeline repeat starts on a fresh store
(SQLite in a temporary directory, or a schema of its own in the PostgreSQL
database ``--store`` names, dropped afterwards) and a fresh audit log, with
fsync and checkpoints at their defaults; the host's ``json.dumps`` of each
forwarded event is timed with the pipeline. Medians are reported because
machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence

import orjson
from common import Item, feed, json_floor, orjson_floor, scratch_pipeline, scratch_store

from cdp_plugin.synthetic import generate_stream


def _stream(count: int) -> list[Item]:
    """``count`` events as JSON lines, with the preference updates between them."""
    items: list[Item] = []
    events = 0
    for item in generate_stream(seed=11, subjects=max(count // 20, 100), days=30):
        if item.event is not None:
            items.append(json.dumps(item.event, separators=(",", ":")).encode())
            events += 1
        elif item.preference is not None:
            items.append(item.preference)
        if events >= count:
            break
    return items


def _timed(run: object, lines: Sequence[bytes]) -> float:
    started = time.perf_counter_ns()
    run(lines)  # type: ignore[operator]
    return (time.perf_counter_ns() - started) / 1e9


def _pipeline(items: Sequence[Item], batch_size: int,
              store: str | None) -> tuple[float, dict[str, int]]:
    statuses: Counter[str] = Counter()
    with scratch_store(store) as target, scratch_pipeline(store=target) as pipeline:
        started = time.perf_counter_ns()
        feed(pipeline, items, batch_size, lambda outcome: statuses.update([outcome.status.value]))
        elapsed = (time.perf_counter_ns() - started) / 1e9
    return elapsed, dict(statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--store", default=None,
                        help="a postgresql:// DSN (default: SQLite in a temporary directory)")
    args = parser.parse_args()

    items = _stream(args.events)
    lines = [item for item in items if isinstance(item, bytes)]
    n = len(lines)
    floor_rates, orjson_rates, pipeline_rates = [], [], []
    ratios, orjson_ratios = [], []
    statuses: dict[str, int] = {}
    for _ in range(args.repeat):
        # The floors are timed right before and right after each pipeline run and
        # averaged, so a machine whose load drifts during the run skews neither side.
        before = n / _timed(json_floor, lines), n / _timed(orjson_floor, lines)
        elapsed, statuses = _pipeline(items, args.batch, args.store)
        after = n / _timed(json_floor, lines), n / _timed(orjson_floor, lines)
        floor_rates.append((before[0] + after[0]) / 2)
        orjson_rates.append((before[1] + after[1]) / 2)
        pipeline_rates.append(n / elapsed)
        ratios.append(floor_rates[-1] / pipeline_rates[-1])
        orjson_ratios.append(orjson_rates[-1] / pipeline_rates[-1])
    floor = statistics.median(floor_rates)
    fast = statistics.median(orjson_rates)
    full = statistics.median(pipeline_rates)
    backend = "PostgreSQL" if args.store else "SQLite"
    print(f"{n} events, {len(items) - n} preference updates, median of {args.repeat} repeats")
    print(f"outcomes per run: {json.dumps(statuses, sort_keys=True)}")
    print(f"{'measurement':<44} {'events/s':>10} {'us/event':>9}")
    print(f"{'floor: json.loads + json.dumps':<44} {floor:>10.0f} {1e6 / floor:>9.2f}")
    print(f"{'orjson floor: orjson.loads + orjson.dumps':<44} {fast:>10.0f} {1e6 / fast:>9.2f}")
    label = f"full pipeline ({backend}, audit log, fsync)"
    print(f"{label:<44} {full:>10.0f} {1e6 / full:>9.2f}")
    print(f"ratio floor/pipeline: {statistics.median(ratios):.1f}x "
          "(pipeline costs that many pass-throughs; median of the repeats' ratios)")
    print(f"ratio orjson floor/pipeline: {statistics.median(orjson_ratios):.1f}x "
          f"(orjson {orjson.__version__})")


if __name__ == "__main__":
    main()
