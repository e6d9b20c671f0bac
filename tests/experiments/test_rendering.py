"""Rendering: the numbers and verdicts appear, JSON is strict, HTML escapes hostile names."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from cdp_plugin.experiments.analysis import ArmCounts, ExperimentAnalysis, ExperimentCounts, analyse
from cdp_plugin.experiments.rendering import as_html, as_json, as_text

HOSTILE = '<script>alert("x")</script>'


def _analysis(name: str = "checkout button", *,
              holdout_assigned: int = 4_000) -> ExperimentAnalysis:
    arms = (ArmCounts("control", 18_000, 18_000, 1_800, 90_000.0, 4_600_000.0),
            ArmCounts("green", 18_000, 18_000, 2_160, 99_000.0, 5_100_000.0),
            ArmCounts("holdout", holdout_assigned, 4_000, 400, 0.0, 0.0))
    shares = {"control": 0.45, "green": 0.45, "holdout": 0.1}
    return analyse(ExperimentCounts(name, "control", arms, shares, "conversion_rate", 0.05))


def test_json_is_strict_and_ordered() -> None:
    data = as_json(_analysis())
    assert list(data) == ["name", "metric", "alpha", "minimum_detectable_effect",
                          "mixing_variance", "control", "comparisons", "sample_ratio"]
    green, holdout = data["comparisons"]
    assert list(green) == ["arm", "absolute_lift", "relative_lift", "interval",
                           "relative_interval", "p_value", "always_valid_p_value",
                           "always_valid_interval", "verdict", "reason",
                           "always_valid_verdict", "always_valid_reason"]
    assert green["arm"]["name"] == "green" and green["verdict"] == "significant_and_relevant"
    assert green["relative_lift"] == pytest.approx(0.2)
    assert set(green["interval"]) == {"low", "high"}
    assert holdout["verdict"] == "not_significant"
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_json_has_no_infinite_numbers() -> None:
    arms = (ArmCounts("control", 1_000, 1_000, 100, 0.0, 0.0),
            ArmCounts("stray", 5, 5, 0, 0.0, 0.0))
    counts = ExperimentCounts("x", "control", arms, {"control": 1.0}, "conversion_rate", 0.05)
    data = as_json(analyse(counts))
    assert data["sample_ratio"]["statistic"] is None and data["sample_ratio"]["mismatch"]
    json.dumps(data, allow_nan=False)


def test_text_is_an_aligned_table_with_the_numbers() -> None:
    text = as_text(_analysis())
    lines = text.splitlines()
    assert lines[0].startswith("Experiment checkout button: metric conversion_rate")
    header, rule, control, green, holdout = lines[1:6]
    assert header.split()[:3] == ["arm", "exposed", "conversions"]
    # aligned: every column starts at the same place on every line
    assert header.index("verdict") == green.index("significant") == holdout.index("not_sig")
    assert header.index("exposed") + len("exposed") == green.index("18,000") + len("18,000")
    assert len(rule.split()) == 13 and set(rule) == {"-", " "}  # one rule per column
    assert header.index("always-valid verdict") == green.index(
        green.split()[-1], header.index("always-valid verdict"))
    assert control.split()[:5] == ["control", "18,000", "1,800", "10.00%", "5.00"]
    assert green.split()[:7] == ["green", "18,000", "2,160", "12.00%", "5.50", "+2.00", "pp"]
    assert "+20.00%" in green and "significant_and_relevant" in green
    assert "not_significant" in holdout
    assert "95% CI" in header and "always-valid p" in header
    assert lines[6].startswith("Sample ratio: chi-square") and lines[6].endswith(": ok.")
    assert lines[7].startswith("green: significant_and_relevant – relative lift +20.00%")


def test_text_reports_a_sample_ratio_mismatch() -> None:
    text = as_text(_analysis(holdout_assigned=1_000))
    assert "MISMATCH" in text and "green: srm – sample ratio mismatch" in text


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_a_hostile_experiment_name() -> None:
    html = as_html(_analysis(HOSTILE))
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.startswith('<section id="experiment-') and html.endswith("</section>")
    parsed = _Collector()
    parsed.feed(html)
    assert "script" not in parsed.tags and parsed.tags.count("tr") == 4
    text = "".join(parsed.text)
    assert HOSTILE in text  # shown as text, never interpreted
    for value in ("12.00%", "+2.00 pp", "+20.00%", "significant_and_relevant", "not_significant"):
        assert value in text


def test_html_escapes_hostile_arm_names() -> None:
    arms = (ArmCounts("control", 500, 500, 50, 0.0, 0.0),
            ArmCounts("<img src=x onerror=alert(1)>", 500, 500, 55, 0.0, 0.0))
    counts = ExperimentCounts("x", "control", arms, {"control": 0.5, arms[1].name: 0.5},
                              "conversion_rate", 0.05)
    html = as_html(analyse(counts))
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_single_arm_renders() -> None:
    arms = (ArmCounts("control", 0, 0, 0, 0.0, 0.0),)
    analysis = analyse(ExperimentCounts("x", "control", arms, {"control": 1.0}, "revenue", 0.1))
    assert "Sample ratio: not checked" in as_text(analysis)
    assert "<ul>" not in as_html(analysis) and as_json(analysis)["comparisons"] == []
