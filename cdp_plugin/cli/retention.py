"""`cdp-plugin retention sweep`: delete stored data past its time to live."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.retention import KINDS, SweepReport

_MEANING = {
    "quarantine": "held events expired or past quarantine_hours",
    "profiles": "profiles not updated within profiles_days",
    "profile_fields": "profiles that lost fields under profile_fields_days",
    "consent_proofs": "ledger records whose proof was emptied",
    "dedup": "message ids forgotten",
    "sends": "recorded sends deleted",
    "deliveries": "settled deliveries deleted",
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = commands.add_parser(
        "retention", help="enforce the times to live of stored data",
        description="Enforce rules/retention.yaml on the store.")
    actions = retention.add_subparsers(dest="retention_command", metavar="COMMAND",
                                       required=True)
    sweep_parser = actions.add_parser(
        "sweep", help="delete what is past its time to live and print the counts",
        description="Delete held events, profiles, profile fields, consent proofs, message "
                    "ids and recorded sends whose time to live (rules/retention.yaml) has "
                    "passed, in one transaction, and print how many of each went. Schedule "
                    "it, e.g. daily; a later run catches up.")
    sweep_parser.add_argument("--at", metavar="ISO-8601", type=aware_time,
                              help="sweep as of this time, with its UTC offset "
                                   "(default: now)")
    sweep_parser.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(sweep_parser)
    sweep_parser.set_defaults(handler=sweep_command)


def aware_time(text: str) -> datetime:
    """An ISO 8601 time with a UTC offset (``Z`` allowed); argparse reports anything else."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 time, e.g. 2026-01-31T00:00:00Z") \
            from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError("give a UTC offset, e.g. 2026-01-31T00:00:00Z")
    return value


def sweep_command(args: argparse.Namespace) -> int:
    with Pipeline.from_config(config_from_args(args)) as pipeline:
        report = pipeline.sweep_retention(args.at)
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    return 0


def render(report: SweepReport) -> str:
    """The counts as aligned text, one kind a line, with what each count means."""
    counts = report.counts()
    lines = [f"swept as of {report.at.isoformat()}"]
    lines.extend(f"{kind:<15} {counts[kind]:>8}  {_MEANING[kind]}" for kind in KINDS)
    return "\n".join(lines)
