"""Segmentation cost: feature update plus evaluation of every default rule, per event and per rule.

Run: ``python benchmarks/segments.py [--events N] [--repeat R]``.

Events come from the demo generator (its realistic mix of app, web and email
messages), parsed once. Each repeat starts from empty profiles held in memory
and, per event: folds it into its subject's features, derives the features at
the event's time and evaluates all the default segments (memberships,
explanations of changes). The rule cost alone is the evaluation of every
default condition over the derived features of every event. The floor is
``json.loads`` + ``json.dumps`` of the same events' lines, in the same run;
and the built-in stage is timed end to end, with its SQLite profile reads and
writes, for reference. Medians of the repeats are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import json_floor, scratch_pipeline

from cdp_plugin.errors import InvalidEvent
from cdp_plugin.events import parse_event
from cdp_plugin.segments.evaluation import evaluate
from cdp_plugin.segments.features import fold
from cdp_plugin.segments.profile import FEATURES, PURPOSE_FEATURES, PURPOSES
from cdp_plugin.segments.view import feature_view
from cdp_plugin.synthetic import generate_stream
from cdp_plugin.types import ConsentState, ConsentView, Decision, Event

GRANTED = frozenset({"necessary", "analytics", "personalization", "marketing", "advertising"})


def _timed(run: Callable[[], None], count: int) -> float:
    started = time.perf_counter_ns()
    run()
    return (time.perf_counter_ns() - started) / 1e3 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with scratch_pipeline(audit_fsync=False) as pipeline:
        runtime = pipeline.runtime
        events: list[Event] = []
        lines: list[str] = []
        for item in generate_stream(seed=5, subjects=max(args.events // 20, 100)):
            if item.event is None:
                continue
            try:
                events.append(parse_event(item.event, runtime.pseudonymizer.subject))
            except InvalidEvent:
                continue
            lines.append(json.dumps(item.event))
            if len(events) >= args.events:
                break
        rules = runtime.rules.segments
        conditions = [rule.condition for rule in rules.segments]

        def features_and_rules() -> None:
            profiles: dict[str, dict[str, Any]] = {}
            for event in events:
                profile = profiles.get(event.subject_key)
                if profile is None:
                    profile = profiles[event.subject_key] = {
                        FEATURES: {}, PURPOSE_FEATURES: {},
                        PURPOSES: ["marketing", "personalization"]}
                fold(profile[FEATURES], profile[PURPOSE_FEATURES], event, rules, GRANTED)
                view = feature_view(profile, event.timestamp, rules.features, 50.0)
                evaluate(profile, rules, view, event.timestamp)

        views: list[tuple[dict[str, Any], Any]] = []
        profiles: dict[str, dict[str, Any]] = {}
        for event in events:
            profile = profiles.setdefault(event.subject_key, {FEATURES: {}})
            fold(profile[FEATURES], {}, event, rules, GRANTED)
            views.append((feature_view(profile, event.timestamp, rules.features, 50.0),
                          event.timestamp))

        def rules_only() -> None:
            for view, now in views:
                for condition in conditions:
                    condition.evaluate(view, now)

        def floor() -> None:
            json_floor(lines)

        decision = Decision.allow(GRANTED, "consent.granted")
        hook = pipeline.pm.hook

        def stage() -> None:
            with runtime.store.transaction():
                for event in events:
                    consent = ConsentView(event.subject_key, dict.fromkeys(
                        GRANTED, ConsentState.GRANTED))
                    hook.cdp_update_segments(event=event, decision=decision,
                                             consent=consent, runtime=runtime)

        count = len(events)
        features_and_rules()  # warm up memos and caches
        update = statistics.median(_timed(features_and_rules, count)
                                   for _ in range(args.repeat))
        per_rule = statistics.median(_timed(rules_only, count * len(conditions))
                                     for _ in range(args.repeat))
        floors = statistics.median(_timed(floor, count) for _ in range(args.repeat))
        with_store = statistics.median(_timed(stage, count) for _ in range(args.repeat))
    print(f"{count} events, {len(conditions)} default segments, median of {args.repeat} repeats")
    print(f"{'floor: json.loads + json.dumps':<52} {floors:>8.2f} us/event")
    print(f"{'feature update + all default rules (in memory)':<52} {update:>8.2f} us/event")
    print(f"{'one rule (compiled condition)':<52} {per_rule:>8.3f} us/rule")
    print(f"{'built-in stage with SQLite profile read + write':<52} {with_store:>8.2f} us/event")
    print(f"ratio update/floor: {update / floors:.2f}x")


if __name__ == "__main__":
    main()
