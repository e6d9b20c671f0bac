"""The demo's experiments: sends through the gate with ``experiment=``, then the
planted conversions through the pipeline, then the results.

Runs after the demo's stream, on the same store, so the stream's own events
and outcomes are unchanged. Every subject that made a preference-center
choice is asked about, once per shipped experiment, on email just after
the stream ends, each experiment's sends a day after the previous one's
conversion window closed (both count orders, and an order is attributed to
every experiment whose window it falls in). The gate assigns only those
whose consent allows the experiment's purpose, refuses the holdout and
names the variant to the rest. The exposed subjects then convert with the
chances the demo plants (:mod:`cdp_plugin.synthetic.experiments`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cdp_plugin.cli.experiments import experiment_counts, totals_table
from cdp_plugin.experiments import rendering
from cdp_plugin.experiments.analysis import ArmCounts, analyse
from cdp_plugin.experiments.counts import arm_totals
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.synthetic.experiments import PLANTED, Exposure, conversion_events

SEND_DELAY = timedelta(hours=9)
"""The sends go out this long after the stream's end (outside any quiet hours on email)."""
BATCH = 500


def run_demo_experiments(pipeline: Pipeline, subjects: list[str], end: datetime, seed: int,
                         process: Callable[[list[dict[str, Any]]], None]) -> dict[str, Any]:
    """Ask the gate about ``subjects`` for every planted experiment, hand the planted
    conversions to ``process`` (the demo's own batch step: the pipeline, then the
    forwarded file), and return per experiment the gate's reasons and the per-arm
    totals."""
    rules = pipeline.runtime.rules.experiments
    results: dict[str, Any] = {}
    at = end + SEND_DELAY
    for name in PLANTED:
        experiment = rules.get(name)
        if experiment is None:
            continue  # the rules in use do not define it
        reasons: Counter[str] = Counter()
        exposures = []
        for subject_id in subjects:
            answer = pipeline.may_contact(subject_id, "email", purpose=experiment.purpose,
                                          at=at, experiment=name)
            reasons[answer.reason] += 1
            arm = answer.variant if answer.allowed else (
                "holdout" if answer.reason == "holdout" else None)
            if arm is not None:
                exposures.append(Exposure(subject_id, arm, at))
        events = list(conversion_events(seed, name, exposures, experiment.metric.within_days))
        for start in range(0, len(events), BATCH):
            process(events[start:start + BATCH])
        results[name] = {"sent_at": at.isoformat(), "gate": dict(reasons.most_common()),
                         "conversion_events": len(events)}
        at += timedelta(days=experiment.metric.within_days + 1)
    for name, result in results.items():
        chosen = rules.get(name)
        assert chosen is not None
        result["arms"] = arm_totals(pipeline.runtime.store, chosen)
    return results


def write_html(pipeline: Pipeline, results: dict[str, Any], path: Path) -> None:
    """Write the experiments' HTML reports, one after the other, to ``path``."""
    pages = []
    for name, result in results.items():
        experiment = pipeline.runtime.rules.experiments.get(name)
        assert experiment is not None
        pages.append(rendering.as_html(analyse(experiment_counts(experiment, result["arms"]))))
    path.write_text("\n".join(pages), encoding="utf-8")


def render(pipeline: Pipeline, results: dict[str, Any]) -> str:
    """The demo's experiments block: the gate's answers, the totals per arm and the
    statistics."""
    lines = ["", "experiments"]
    for name, result in results.items():
        experiment = pipeline.runtime.rules.experiments.get(name)
        assert experiment is not None
        gate = ", ".join(f"{reason} {count}" for reason, count in result["gate"].items())
        lines += [f"  {name}: {experiment.hypothesis}", f"    gate: {gate}",
                  totals_table(result["arms"])]
        lines.append(rendering.as_text(analyse(experiment_counts(experiment, result["arms"]))))
    return "\n".join(lines)


def arms_as_json(results: dict[str, Any]) -> dict[str, Any]:
    """The results with each arm's totals as plain dicts."""
    def arm(totals: ArmCounts) -> dict[str, Any]:
        return {"arm": totals.name, "assigned": totals.assigned, "exposed": totals.exposed,
                "converted": totals.converted, "revenue_sum": round(totals.revenue_sum, 2)}
    return {name: {**result, "arms": [arm(t) for t in result["arms"]]}
            for name, result in results.items()}
