"""The demo's experiments: planted chances, and the demo's sends through the gate."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp_plugin.cli import main
from cdp_plugin.synthetic.experiments import PLANTED, Exposure, conversion_events

AT = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _rates(experiment: str, per_arm: int = 10_000) -> dict[str, float]:
    exposures = [Exposure(f"u-{arm}-{n}", arm, AT) for arm in PLANTED[experiment]
                 for n in range(per_arm)]
    arm_of = {e.subject_id: e.arm for e in exposures}
    converted = Counter(arm_of[event["userId"]]
                        for event in conversion_events(7, experiment, exposures, 7))
    return {arm: converted[arm] / per_arm for arm in PLANTED[experiment]}


@pytest.mark.parametrize("experiment", sorted(PLANTED))
def test_conversions_follow_the_planted_chances(experiment: str) -> None:
    rates = _rates(experiment)
    assert all(abs(rates[arm] - chance) < 0.0001
               for arm, chance in PLANTED[experiment].items()), rates


def test_the_timing_lift_is_planted_and_the_copy_test_has_none() -> None:
    timing, copy = PLANTED["replenishment_timing"], PLANTED["newsletter_subject_line"]
    assert timing["evening"] > 2 * timing["morning"] > timing["holdout"]
    assert len(set(copy.values())) == 1


def test_conversions_fall_in_the_window_and_repeat() -> None:
    exposures = [Exposure(f"u-{n}", "evening", AT) for n in range(500)]
    first = list(conversion_events(3, "replenishment_timing", exposures, 7))
    assert first == list(conversion_events(3, "replenishment_timing", exposures, 7))
    assert first != list(conversion_events(4, "replenishment_timing", exposures, 7))
    for event in first:
        moment = datetime.fromisoformat(event["timestamp"])
        assert 0 < (moment - AT).total_seconds() < 7 * 86400
        assert event["context"]["consent"]["categoryPreferences"] == {"Marketing": True}


def test_the_demo_sends_through_the_gate(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--seed", "3", "--subjects", "150", "--days", "10", "--json",
            "--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits")]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["experiments"]) == set(PLANTED)
    for result in summary["experiments"].values():
        gate, arms = result["gate"], {a["arm"]: a for a in result["arms"]}
        assigned = sum(a["assigned"] for a in arms.values())
        assert assigned == gate.get("ok", 0) + gate.get("holdout", 0) > 0
        assert all(a["exposed"] == a["assigned"] for a in arms.values())
        # One planted order per converting subject, attributed to its own experiment
        # only: the next experiment's sends wait until this one's window has closed.
        assert sum(a["converted"] for a in arms.values()) == result["conversion_events"]
        assert any(reason.startswith("purpose.") for reason in gate)  # consent refuses some
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == summary  # deterministic


def test_the_null_test_plants_the_same_orders_in_every_arm() -> None:
    exposures = [Exposure(f"u-{n}", "statement" if n % 3 else "question", AT)
                 for n in range(3000)]
    arm_of = {e.subject_id: e.arm for e in exposures}
    revenue: dict[str, list[float]] = {"statement": [], "question": []}
    for event in conversion_events(7, "newsletter_subject_line", exposures, 7):
        revenue[arm_of[event["userId"]]].append(event["properties"]["revenue"])
    sizes = Counter(arm_of.values())
    assert {arm: round(len(values) / sizes[arm], 2) for arm, values in revenue.items()} == {
        "statement": 0.18, "question": 0.18}
    # The k-th order of each arm has the same value: the smaller arm's are a prefix.
    assert revenue["question"] == revenue["statement"][:len(revenue["question"])]


def test_at_the_demos_size_one_planted_effect_shows_and_the_other_does_not() -> None:
    from cdp_plugin.experiments.analysis import ArmCounts, ExperimentCounts, analyse

    per_arm = 150  # about what the default demo exposes per variant
    verdicts = {}
    for experiment, metric, control in (("replenishment_timing", "conversion_rate", "morning"),
                                        ("newsletter_subject_line", "revenue", "statement")):
        arms = [arm for arm in PLANTED[experiment] if arm != "holdout"]
        exposures = [Exposure(f"u-{arm}-{n}", arm, AT) for arm in arms for n in range(per_arm)]
        arm_of = {e.subject_id: e.arm for e in exposures}
        revenue: dict[str, dict[str, float]] = {arm: {} for arm in arms}
        for event in conversion_events(7, experiment, exposures, 7):
            subject = event["userId"]
            spent = revenue[arm_of[subject]]
            spent[subject] = spent.get(subject, 0.0) + float(
                event.get("properties", {}).get("revenue", 0.0))
        counts = ExperimentCounts(
            experiment, control,
            tuple(ArmCounts(arm, per_arm, per_arm, len(revenue[arm]),
                            sum(revenue[arm].values()),
                            sum(v * v for v in revenue[arm].values())) for arm in arms),
            {arm: 1 / len(arms) for arm in arms}, metric,  # type: ignore[arg-type]
            0.2 if metric == "conversion_rate" else 0.1)
        [comparison] = analyse(counts).comparisons
        verdicts[experiment] = comparison.verdict
    assert verdicts == {"replenishment_timing": "significant_and_relevant",
                        "newsletter_subject_line": "not_significant"}
