"""Consent decision cost per event, with a warm cache, against the JSON pass-through floor.

Run: ``python benchmarks/consent.py [--events N] [--repeat R]``.

Events from the demo generator are parsed once; subjects get preference-center
ledger entries. After one warm-up pass (SQLite pages and rule memos warm), each
repeat times ``cdp_resolve_consent`` + ``cdp_decide`` through the plugin
manager for every event, and, on the same events in the same run, the floor:
``json.loads`` + ``json.dumps`` of the event. Medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import json_floor, scratch_pipeline

from cdp_plugin.errors import InvalidEvent
from cdp_plugin.events import parse_event
from cdp_plugin.synthetic import generate_stream
from cdp_plugin.types import Event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with scratch_pipeline(audit_fsync=False) as pipeline:
        events: list[Event] = []
        lines: list[str] = []
        for item in generate_stream(seed=5, subjects=max(args.events // 20, 100)):
            if item.preference is not None:
                pipeline.record_consent(item.preference)
            elif item.event is not None:
                try:
                    events.append(parse_event(item.event,
                                              pipeline.runtime.pseudonymizer.subject))
                except InvalidEvent:
                    continue
                lines.append(json.dumps(item.event))
            if len(events) >= args.events:
                break
        hook, runtime = pipeline.pm.hook, pipeline.runtime

        def decide_all() -> float:
            started = time.perf_counter_ns()
            for event in events:
                consent = hook.cdp_resolve_consent(event=event, runtime=runtime)
                hook.cdp_decide(event=event, consent=consent, runtime=runtime)
            return (time.perf_counter_ns() - started) / 1e3 / len(events)

        def floor() -> float:
            started = time.perf_counter_ns()
            json_floor(lines)
            return (time.perf_counter_ns() - started) / 1e3 / len(lines)

        decide_all()  # warm the caches
        decisions = statistics.median(decide_all() for _ in range(args.repeat))
        floors = statistics.median(floor() for _ in range(args.repeat))
    print(f"{len(events)} events, median of {args.repeat} repeats, warm cache")
    print(f"{'floor: json.loads + json.dumps':<44} {floors:>8.2f} us/event")
    print(f"{'consent decision (resolve + decide hooks)':<44} {decisions:>8.2f} us/event")
    print(f"ratio decision/floor: {decisions / floors:.2f}x")


if __name__ == "__main__":
    main()
