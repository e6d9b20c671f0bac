"""`cdp-plugin segments`: apply time-based changes, review size and churn, explain a subject."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.keys.master import load_master_key
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules.builtin import locate_rules
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.segments.access import explain_subject
from cdp_plugin.segments.governance import SegmentReport, report
from cdp_plugin.storage import open_store
from cdp_plugin.types import SegmentChange

DEFAULT_DAYS = 14


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    segments = commands.add_parser(
        "segments", help="behavioural segments: tick, stats, explain",
        description="Apply time-based segment changes, review segment size and churn for "
                    "drift, and explain one subject's memberships.")
    actions = segments.add_subparsers(dest="segments_command", metavar="COMMAND", required=True)

    tick = actions.add_parser(
        "tick", help="apply time-based entries and exits (dormant, replenishment due...)",
        description="Re-evaluate every subject's segments as of now (or --at) and apply the "
                    "entries and exits that time alone causes. Each change is audited and "
                    "announced to cdp_segment_changed observers. Schedule it, e.g. hourly.")
    tick.add_argument("--at", metavar="ISO-8601", type=_moment,
                      help="evaluate as of this time (default: now)")
    tick.add_argument("--json", action="store_true", help="print every change as JSON")
    add_config_options(tick)
    tick.set_defaults(handler=tick_command)

    stats = actions.add_parser(
        "stats", help="segment sizes, governance status and daily churn",
        description="For every segment: its size, whether it is activated or in shadow mode "
                    "(and why), and per day its entries, exits, size and churn rate (exits "
                    "over the size at the start of the day).")
    stats.add_argument("--days", type=int, default=DEFAULT_DAYS, metavar="N",
                       help=f"days of history to show (default {DEFAULT_DAYS})")
    stats.add_argument("--since", metavar="YYYY-MM-DD", type=date.fromisoformat,
                       help="show history from this day on (overrides --days)")
    stats.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(stats)
    stats.set_defaults(handler=stats_command)

    explain_parser = actions.add_parser(
        "explain", help="why a subject is or is not in each segment",
        description="For one subject (looked up by its keyed pseudonym; the raw id is not "
                    "stored): each segment, whether the subject is in it, whether it holds "
                    "now, missing consents, and each clause of the condition with the "
                    "feature values involved.")
    explain_parser.add_argument("subject_id", metavar="SUBJECT_ID",
                                help="the subject's user or anonymous id")
    explain_parser.add_argument("--at", metavar="ISO-8601", type=_moment,
                                help="evaluate as of this time (default: now)")
    explain_parser.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(explain_parser)
    explain_parser.set_defaults(handler=explain_command)


def tick_command(args: argparse.Namespace) -> int:
    with Pipeline.from_config(config_from_args(args)) as pipeline:
        changes = pipeline.tick(args.at)
    if args.json:
        print(json.dumps([_change(change) for change in changes], indent=2))
        return 0
    tally: Counter[tuple[str, bool]] = Counter((c.segment, c.entered) for c in changes)
    for segment in sorted({segment for segment, _ in tally}):
        print(f"{segment:<28} +{tally[segment, True]:<6} -{tally[segment, False]}")
    entries = sum(1 for change in changes if change.entered)
    print(f"{entries} entries, {len(changes) - entries} exits", file=sys.stderr)
    return 0


def _change(change: SegmentChange) -> dict[str, Any]:
    return {"subject": change.subject_key, "segment": change.segment,
            "entered": change.entered, "active": change.active,
            "at": change.at.isoformat(), "explanation": list(change.explanation)}


def stats_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    rules = load_rules(locate_rules(config.rules_dir).path)
    since = args.since or datetime.now(UTC).date() - timedelta(days=max(args.days, 1) - 1)
    store = open_store(config.store_target)
    try:
        found = report(store, rules.segments, since)
    finally:
        store.close()
    if args.json:
        print(json.dumps([_report(item) for item in found], indent=2))
        return 0
    for item in found:
        print(f"{item.name:<28} {item.size:>7} members  {item.mode}  "
              f"(owner {item.owner}, purpose {item.purpose})")
        for day in item.days:
            rate = "-" if day.churn_rate is None else f"{day.churn_rate:.1%}"
            print(f"    {day.day.isoformat()}  +{day.entered:<6} -{day.exited:<6} "
                  f"size {day.size:<7} churn {rate}")
    return 0


def _report(item: SegmentReport) -> dict[str, Any]:
    return {"segment": item.name, "description": item.description, "owner": item.owner,
            "purpose": item.purpose, "review_status": item.review_status,
            "min_size": item.min_size, "size": item.size, "mode": item.mode,
            "days": [{"day": d.day.isoformat(), "size": d.size, "entered": d.entered,
                      "exited": d.exited, "churn_rate": d.churn_rate} for d in item.days]}


def explain_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    rules = load_rules(locate_rules(config.rules_dir).path).segments
    subject_key = Pseudonymizer(load_master_key(config)).subject(args.subject_id)
    store = open_store(config.store_target)
    try:
        now, found = explain_subject(store, rules, subject_key, args.at or datetime.now(UTC))
    finally:
        store.close()
    if args.json:
        print(json.dumps({"subject": subject_key, "at": now.isoformat(), "segments": [
            {"segment": m.segment, "member": m.member, "since": m.since,
             "holds_now": m.holds_now, "missing_purposes": list(m.missing_purposes),
             "explanation": list(m.explanation)} for m in found]}, indent=2))
        return 0
    print(f"subject {subject_key} as of {now.isoformat()}")
    for membership in found:
        state = f"member since {membership.since}" if membership.member else "not a member"
        holds = "holds now" if membership.holds_now else "does not hold now"
        print(f"{membership.segment}: {state}; {holds}")
        if membership.missing_purposes:
            print(f"    missing consent: {', '.join(membership.missing_purposes)}")
        for line in membership.explanation:
            print(f"    {line}")
    return 0


def _moment(text: str) -> datetime:
    """An ISO-8601 time for --at; a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an ISO-8601 time such as "
                                         "2026-11-01T12:00:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
