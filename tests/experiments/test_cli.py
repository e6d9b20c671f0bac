"""`cdp-plugin experiments list|report`: per-arm totals from the store; the report
hands them to the statistics (skipped until those are installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdp_plugin.cli import main
from cdp_plugin.experiments.analysis import ArmCounts
from cdp_plugin.experiments.counts import arm_totals, metric_kind
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules.model.experiments import HOLDOUT
from tests.conftest import MakePipeline
from tests.events import ALL_GRANTED, track
from tests.experiments.scenario import T, experiment_rules, opt_in, users_in


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return experiment_rules(tmp_path)


@pytest.fixture
def pipeline(make_pipeline: MakePipeline, rules_dir: Path) -> Pipeline:
    """Two evening subjects (one converts), one morning, one holdout (converts)."""
    pipeline = make_pipeline(rules_dir=rules_dir)
    users = (users_in(pipeline, "timing", "evening", 2) + users_in(pipeline, "timing", "morning", 1)
             + users_in(pipeline, "timing", HOLDOUT, 1))
    for user in users:
        opt_in(pipeline, user)
        pipeline.may_contact(user, "email", at=T, experiment="timing")
    for n, user in enumerate((users[0], users[3])):
        pipeline.process(track(f"o-{n}", user, consent=ALL_GRANTED,
                               timestamp="2026-11-21T09:00:00Z"))
    return pipeline


def _args(tmp_path: Path, rules_dir: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits"),
            "--rules", str(rules_dir)]


def test_arm_totals_follow_the_experiments_order(pipeline: Pipeline) -> None:
    timing = pipeline.runtime.rules.experiments.get("timing")
    assert timing is not None
    assert arm_totals(pipeline.runtime.store, timing) == [
        ArmCounts("morning", 1, 1, 0, 0.0, 0.0), ArmCounts("evening", 2, 2, 1, 0.0, 0.0),
        ArmCounts(HOLDOUT, 1, 1, 1, 0.0, 0.0)]
    assert metric_kind(timing) == "conversion_rate"
    copy = pipeline.runtime.rules.experiments.get("copy")
    assert copy is not None and metric_kind(copy) == "revenue"
    assert [t.name for t in arm_totals(pipeline.runtime.store, copy)] == ["statement", "question"]


def test_list_prints_the_totals(pipeline: Pipeline, tmp_path: Path, rules_dir: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    pipeline.close()
    assert main(["experiments", "list", "--json", *_args(tmp_path, rules_dir)]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["timing"]["arms"][1] == {"arm": "evening", "assigned": 2, "exposed": 2,
                                           "converted": 1, "revenue_sum": 0.0}
    assert main(["experiments", "list", *_args(tmp_path, rules_dir)]) == 0
    assert "evening" in capsys.readouterr().out


def test_an_unknown_name_is_a_usage_error(tmp_path: Path, rules_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiments", "report", "nope", *_args(tmp_path, rules_dir)]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err


def test_report_hands_the_counts_to_the_analysis(pipeline: Pipeline, tmp_path: Path,
                                                 rules_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from cdp_plugin.cli.experiments import experiment_counts
    from cdp_plugin.experiments import analysis

    timing = pipeline.runtime.rules.experiments.get("timing")
    assert timing is not None
    counts = experiment_counts(timing, arm_totals(pipeline.runtime.store, timing))
    assert isinstance(counts, analysis.ExperimentCounts)
    assert counts.control == "morning" and counts.metric == "conversion_rate"
    assert [a.name for a in counts.arms] == ["morning", "evening", HOLDOUT]
    assert counts.expected_shares == {"morning": 0.25, "evening": 0.25, HOLDOUT: 0.5}
    pipeline.close()
    out = tmp_path / "report.html"
    assert main(["experiments", "report", "timing", "--html", str(out),
                 *_args(tmp_path, rules_dir)]) == 0
    assert "timing" in capsys.readouterr().out
    assert out.read_text(encoding="utf-8")
    assert main(["experiments", "report", "timing", "--json", *_args(tmp_path, rules_dir)]) == 0
    assert json.loads(capsys.readouterr().out)
