"""`cdp-plugin experiments`: list the experiments and report their results.

``report`` reads each experiment's per-arm totals from the store
(:mod:`cdp_plugin.experiments.counts`) and hands them to the statistics
(:mod:`cdp_plugin.experiments.analysis` and ``.rendering``). Subjects appear
in no output: only counts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.errors import ConfigError
from cdp_plugin.experiments import rendering
from cdp_plugin.experiments.analysis import (
    ArmCounts,
    ExperimentAnalysis,
    ExperimentCounts,
    analyse,
)
from cdp_plugin.experiments.counts import arm_totals, metric_kind
from cdp_plugin.rules.builtin import locate_rules
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.rules.model.experiments import Experiment
from cdp_plugin.storage import open_store


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    experiments = commands.add_parser(
        "experiments", help="experiments: list them, report their results",
        description="The experiments of rules/experiments.yaml: their arms, and the "
                    "results measured so far.")
    actions = experiments.add_subparsers(dest="experiments_command", metavar="COMMAND",
                                         required=True)
    listing = actions.add_parser(
        "list", help="every experiment with its status and per-arm totals",
        description="Every experiment with its review status, status, purpose and, per arm, "
                    "the subjects assigned, exposed and converted so far.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(listing)
    listing.set_defaults(handler=list_command)

    report = actions.add_parser(
        "report", help="the statistics of one or every experiment",
        description="Compare each arm with the control: conversion rate or revenue per "
                    "exposed subject, the lift, its confidence interval and significance "
                    "(read once, and always valid), and the sample ratio against the "
                    "configured shares.")
    report.add_argument("name", nargs="?", metavar="NAME", help="one experiment (default: all)")
    report.add_argument("--json", action="store_true", help="print JSON")
    report.add_argument("--html", metavar="OUT", type=Path, help="also write an HTML page")
    add_config_options(report)
    report.set_defaults(handler=report_command)


def _chosen(args: argparse.Namespace) -> tuple[list[Experiment], Any]:
    config = config_from_args(args)
    rules = load_rules(locate_rules(config.rules_dir).path)
    chosen = list(rules.experiments.experiments)
    name = getattr(args, "name", None)
    if name is not None:
        chosen = [e for e in chosen if e.name == name]
        if not chosen:
            known = ", ".join(e.name for e in rules.experiments.experiments) or "none"
            raise ConfigError(f"no experiment named {name!r} in experiments.yaml; "
                              f"defined: {known}")
    return chosen, config


def collect(store_target: str, experiments: list[Experiment]) -> dict[str, list[ArmCounts]]:
    """Each experiment's per-arm totals, from the store at ``store_target``."""
    store = open_store(store_target)
    try:
        return {e.name: arm_totals(store, e) for e in experiments}
    finally:
        store.close()


def list_command(args: argparse.Namespace) -> int:
    experiments, config = _chosen(args)
    totals = collect(config.store_target, experiments)
    if args.json:
        print(json.dumps([{"name": e.name, "review_status": e.review_status,
                           "status": e.status, "purpose": e.purpose, "control": e.control,
                           "arms": [_arm(t) for t in totals[e.name]]} for e in experiments],
                         indent=2))
        return 0
    for experiment in experiments:
        print(f"{experiment.name}  ({experiment.review_status}, {experiment.status}, "
              f"purpose {experiment.purpose}, control {experiment.control})")
        print(totals_table(totals[experiment.name]))
    return 0


def _arm(totals: ArmCounts) -> dict[str, Any]:
    return {"arm": totals.name, "assigned": totals.assigned, "exposed": totals.exposed,
            "converted": totals.converted, "revenue_sum": round(totals.revenue_sum, 2)}


def totals_table(totals: list[ArmCounts]) -> str:
    """The per-arm totals as aligned text lines."""
    lines = [f"    {'arm':<14} {'assigned':>9} {'exposed':>8} {'converted':>10} {'revenue':>11}"]
    lines.extend(f"    {t.name:<14} {t.assigned:>9} {t.exposed:>8} {t.converted:>10} "
                 f"{t.revenue_sum:>11.2f}" for t in totals)
    return "\n".join(lines)


def experiment_counts(experiment: Experiment, totals: list[ArmCounts]) -> ExperimentCounts:
    """The analysis's counts for one experiment."""
    shares = experiment.expected_shares()
    return ExperimentCounts(
        name=experiment.name, control=experiment.control, arms=tuple(totals),
        expected_shares={t.name: shares.get(t.name, 0.0) for t in totals},
        metric=metric_kind(experiment),
        minimum_detectable_effect=experiment.minimum_detectable_effect)


def analyses(store_target: str, experiments: list[Experiment]) -> list[ExperimentAnalysis]:
    """``analyse()`` of each experiment's counts in the store."""
    totals = collect(store_target, experiments)
    return [analyse(experiment_counts(e, totals[e.name])) for e in experiments]


def report_command(args: argparse.Namespace) -> int:
    experiments, config = _chosen(args)
    found = analyses(config.store_target, experiments)
    if args.json:
        print(json.dumps([rendering.as_json(a) for a in found], indent=2))
    else:
        print("\n\n".join(rendering.as_text(a) for a in found))
    if args.html is not None:
        for path, analysis in zip(_html_paths(args.html, experiments), found, strict=True):
            path.write_text(rendering.as_html(analysis), encoding="utf-8")
            if not args.json:
                print(f"\nHTML report: {path}")
    return 0


def _html_paths(out: Path, experiments: list[Experiment]) -> list[Path]:
    """``out`` for one experiment; ``<stem>-<name><suffix>`` beside it for each of several."""
    if len(experiments) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{e.name}{out.suffix}") for e in experiments]
