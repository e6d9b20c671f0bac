"""experiments.yaml: what loads, what fails with its file and key, and an absent file."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp_plugin.errors import RuleProblem, RulesError
from cdp_plugin.rules import load_rules
from cdp_plugin.rules.model.experiments import HOLDOUT

SHIPPED = Path(__file__).resolve().parents[2] / "rules"
FILE = "experiments.yaml"

GOOD = """\
version: 1
experiments:
  - name: timing
    hypothesis: "Evening sends convert better"
    owner: crm
    review_status: approved
    status: running
    purpose: marketing
    eligibility: {segment: repeat_buyer}
    holdout: 0.2
    control: morning
    variants:
      - {name: morning, weight: 3, attributes: {send_hour: 8}}
      - {name: evening, weight: 1, attributes: {send_hour: 19, urgent: true}}
    metric:
      match: {type: track, event: "Order Completed"}
      within_days: 7
      revenue: properties.revenue
    minimum_detectable_effect: 0.1
    start: 2026-01-01
    end: "2026-03-01T00:00:00+01:00"
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED, target)
    (target / FILE).write_text(GOOD, encoding="utf-8")
    return target


def _problems(directory: Path, text: str) -> list[RuleProblem]:
    (directory / FILE).write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(directory)
    return caught.value.problems


def _one(problems: list[RuleProblem], directory: Path, key: str) -> RuleProblem:
    found = [p for p in problems if p.file == str(directory / FILE) and p.key == key]
    assert len(found) == 1, f"expected one problem at {key}, got {problems}"
    return found[0]


def test_a_good_file_builds_frozen_experiments(rules_dir: Path) -> None:
    rules = load_rules(rules_dir)
    [experiment] = rules.experiments.experiments
    assert experiment.salt == "timing" and experiment.control == "morning"
    assert experiment.eligibility.segment == "repeat_buyer"
    assert experiment.metric.kind == "revenue"
    assert experiment.metric.revenue_path == ("properties", "revenue")
    assert experiment.start == datetime(2026, 1, 1, tzinfo=UTC)
    assert experiment.end == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert experiment.expected_shares() == {"morning": 0.6000000000000001, "evening": 0.2,
                                            HOLDOUT: 0.2}
    assert dict(experiment.variant("evening").attributes) == {"send_hour": 19, "urgent": True}
    with pytest.raises(AttributeError):
        experiment.name = "other"  # type: ignore[misc]
    assert "experiments.yaml" in rules.file_hashes


def test_running_needs_approval_status_and_dates(rules_dir: Path) -> None:
    [experiment] = load_rules(rules_dir).experiments.experiments
    assert experiment.running_at(datetime(2026, 1, 1, tzinfo=UTC))
    assert not experiment.running_at(datetime(2025, 12, 31, 23, 59, tzinfo=UTC))
    assert not experiment.running_at(datetime(2026, 2, 28, 23, tzinfo=UTC))  # end excluded
    (rules_dir / FILE).write_text(GOOD.replace("status: running", "status: paused"))
    [paused] = load_rules(rules_dir).experiments.experiments
    assert not paused.running_at(datetime(2026, 1, 15, tzinfo=UTC))


def test_an_absent_file_means_no_experiments_and_leaves_the_version(rules_dir: Path) -> None:
    (rules_dir / FILE).unlink()
    without = load_rules(rules_dir)
    assert without.experiments.experiments == ()
    assert "experiments.yaml" not in without.file_hashes
    (rules_dir / FILE).write_text(GOOD, encoding="utf-8")
    assert load_rules(rules_dir).version != without.version  # part of the rule set's digest


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('hypothesis: "Evening sends convert better"', 'hypothesis: ""',
     "experiments.0.hypothesis", "must not be empty"),
    ('    hypothesis: "Evening sends convert better"\n', "",
     "experiments.0.hypothesis", "required key is missing"),
    ("purpose: marketing", "purpose: upselling", "experiments.0.purpose", "undefined purpose"),
    ("segment: repeat_buyer", "segment: big_fans", "experiments.0.eligibility.segment",
     "undefined segment 'big_fans'"),
    ("eligibility: {segment: repeat_buyer}", 'eligibility: {when: "purchase_cnt >= 2"}',
     "experiments.0.eligibility.when", "purchase_cnt"),
    ("holdout: 0.2", "holdout: 1", "experiments.0.holdout", "below 1"),
    ("holdout: 0.2", "holdout: -0.1", "experiments.0.holdout", "at least 0"),
    ("control: morning", "control: noon", "experiments.0.control", "one of the variants"),
    ("{name: evening, weight: 1,", "{name: morning, weight: 1,",
     "experiments.0.variants.1.name", "duplicate variant name 'morning'"),
    ("{name: evening, weight: 1,", "{name: holdout, weight: 1,",
     "experiments.0.variants", "holdout arm"),
    ("weight: 3", "weight: 0", "experiments.0.variants.0.weight", "more than 0"),
    ("send_hour: 8}", "send_hour: [8]}", "experiments.0.variants.0.attributes.send_hour",
     "string, number or true/false"),
    ("within_days: 7", "within_days: 0", "experiments.0.metric.within_days", "from 1 to"),
    ("revenue: properties.revenue", "revenue: properties.revenue\n      count: once",
     "experiments.0.metric", "exactly one of"),
    ("minimum_detectable_effect: 0.1", "minimum_detectable_effect: 0",
     "experiments.0.minimum_detectable_effect", "more than 0"),
    ("start: 2026-01-01", "start: 2026-04-01", "experiments.0.end", "after start"),
    ("start: 2026-01-01", 'start: "soon"', "experiments.0.start", "a day"),
    ("status: running", "status: live", "experiments.0.status", "must be one of"),
    ("owner: crm", "owner: crm\n    colour: blue", "experiments.0.colour", "unknown key"),
])
def test_a_mistake_is_reported_with_file_and_key(rules_dir: Path, old: str, new: str,
                                                 key: str, message: str) -> None:
    assert old in GOOD
    problem = _one(_problems(rules_dir, GOOD.replace(old, new, 1)), rules_dir, key)
    assert message in problem.message
    assert problem.line is not None


def test_two_experiments_with_one_name_are_reported(rules_dir: Path) -> None:
    body = GOOD.split("experiments:\n", 1)[1]
    problems = _problems(rules_dir, GOOD + body)
    assert "duplicate experiment name 'timing'" in _one(
        problems, rules_dir, "experiments.1.name").message


def test_a_condition_compiles_once_at_load(rules_dir: Path) -> None:
    (rules_dir / FILE).write_text(GOOD.replace(
        "eligibility: {segment: repeat_buyer}",
        'eligibility: {when: "coalesce(purchase_count, 0) >= 2"}'))
    [experiment] = load_rules(rules_dir).experiments.experiments
    condition = experiment.eligibility.condition
    assert condition is not None and experiment.eligibility.segment is None
    assert condition.evaluate({"purchase_count": 2}, datetime(2026, 1, 2, tzinfo=UTC))
    assert not condition.evaluate({}, datetime(2026, 1, 2, tzinfo=UTC))


def test_nothing_is_half_applied(rules_dir: Path) -> None:
    """A bad experiments file fails the whole load, not just its own part."""
    problems = _problems(rules_dir, GOOD.replace("holdout: 0.2", "holdout: 2"))
    assert {p.file for p in problems} == {str(rules_dir / FILE)}


def test_the_shipped_experiments_load() -> None:
    rules = load_rules(SHIPPED)
    names = [e.name for e in rules.experiments.experiments]
    assert names == ["replenishment_timing", "newsletter_subject_line"]
    assert all(e.running_at(datetime(2026, 11, 1, tzinfo=UTC))
               for e in rules.experiments.experiments)
