"""An experiment analysis for machines and people: a JSON-ready dict, a text table, HTML.

All three show the same numbers. :func:`as_json` keeps them unrounded (an
infinite or undefined number becomes ``None``, so ``json.dumps(...,
allow_nan=False)`` never fails); the text and HTML round them for reading and
show ``–`` for what is undefined. The HTML fragment is one ``<section>`` made
with the audit report's blocks (:mod:`cdp_plugin.audit.html_blocks`), so
every value, the experiment and arm names included, is escaped.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict
from typing import Any

from cdp_plugin.audit.charts import clean, esc
from cdp_plugin.audit.html_blocks import note, section, table
from cdp_plugin.experiments.analysis import ArmComparison, ArmSummary, ExperimentAnalysis
from cdp_plugin.experiments.statistics import Interval

NONE = "–"
NUMERIC_COLUMNS = range(1, 11)  # every column but the arm's name and the verdicts


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def as_json(analysis: ExperimentAnalysis) -> dict[str, Any]:
    """The analysis as plain dicts and lists, keys in the dataclasses' field order."""
    result: dict[str, Any] = _json_ready(asdict(analysis))
    return result


def _p(value: float | None) -> str:
    if value is None:
        return NONE
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def _p_phrase(value: float) -> str:
    return "< 0.0001" if value < 0.0001 else f"= {value:.4f}"


def _share(value: float | None) -> str:
    return NONE if value is None else f"{value:.2%}"


def _signed_share(value: float | None) -> str:
    return NONE if value is None else f"{value:+.2%}"


def _money(value: float | None) -> str:
    return NONE if value is None else f"{value:,.2f}"


def _difference(analysis: ExperimentAnalysis, value: float | None) -> str:
    """An absolute lift: percentage points for rates, the metric's unit for revenue."""
    if value is None:
        return NONE
    if analysis.metric == "conversion_rate":
        return f"{value * 100:+.2f} pp"
    return f"{value:+,.2f}"


def _interval(analysis: ExperimentAnalysis, interval: Interval | None) -> str:
    if interval is None:
        return NONE
    return (f"[{_difference(analysis, interval.low)}, "
            f"{_difference(analysis, interval.high)}]")


def headers(analysis: ExperimentAnalysis) -> list[str]:
    """The table's column names; the interval columns name their level, e.g. ``95% CI``."""
    level = f"{1 - analysis.alpha:.0%}"
    return ["arm", "exposed", "conversions", "rate", "revenue/subject", "lift abs",
            "lift rel", f"{level} CI", "p", "always-valid p", f"always-valid {level} CI",
            "verdict", "always-valid verdict"]


def _arm_cells(arm: ArmSummary) -> list[str]:
    return [clean(arm.name), f"{arm.exposed:,}", f"{arm.converted:,}",
            _share(arm.conversion_rate), _money(arm.revenue_per_subject)]


def rows(analysis: ExperimentAnalysis) -> list[list[str]]:
    """One row per arm, the control first (it has no lift, no test and no verdict)."""
    control = [*_arm_cells(analysis.control), *[NONE] * 6, "control", "control"]

    def row(c: ArmComparison) -> list[str]:
        return [*_arm_cells(c.arm), _difference(analysis, c.absolute_lift),
                _signed_share(c.relative_lift), _interval(analysis, c.interval), _p(c.p_value),
                _p(c.always_valid_p_value), _interval(analysis, c.always_valid_interval),
                c.verdict, c.always_valid_verdict]

    return [control, *(row(c) for c in analysis.comparisons)]


def title(analysis: ExperimentAnalysis) -> str:
    """``Experiment NAME: metric conversion_rate, alpha 0.05, minimum effect 5.00%``."""
    return (f"Experiment {clean(analysis.name)}: metric {analysis.metric}, alpha "
            f"{analysis.alpha:g}, minimum effect {analysis.minimum_detectable_effect:.2%}")


def sample_ratio_line(analysis: ExperimentAnalysis) -> str:
    """The sample-ratio check in one sentence."""
    srm = analysis.sample_ratio
    if srm.p_value is None:
        return "Sample ratio: not checked (no assignments, or a single arm)."
    statistic = "∞" if srm.statistic is None or math.isinf(srm.statistic) \
        else f"{srm.statistic:.2f}"
    outcome = ("MISMATCH: the assignment is broken; do not trust this experiment"
               if srm.mismatch else "ok")
    return (f"Sample ratio: chi-square {statistic} (df {srm.degrees_of_freedom}), "
            f"p {_p_phrase(srm.p_value)}, threshold {srm.threshold:g}: {outcome}.")


def reasons(analysis: ExperimentAnalysis) -> list[str]:
    """Why each arm got its verdicts: ``arm: verdict – reason; always-valid: ...``."""
    return [f"{clean(c.arm.name)}: {c.verdict} – {c.reason}; always-valid: "
            f"{c.always_valid_verdict} – {c.always_valid_reason}"
            for c in analysis.comparisons]


def _one_line(text: str) -> str:
    return re.sub(r"\s", " ", text)


def as_text(analysis: ExperimentAnalysis) -> str:
    """An aligned table: names and verdicts left-aligned, numbers right-aligned."""
    grid = [headers(analysis), *rows(analysis)]
    grid = [[_one_line(cell) for cell in line] for line in grid]
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(w) if i in NUMERIC_COLUMNS else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    body = [line(grid[0]), line(["-" * w for w in widths]), *(line(r) for r in grid[1:])]
    return "\n".join([_one_line(title(analysis)), *body, sample_ratio_line(analysis),
                      *(_one_line(r) for r in reasons(analysis))]) + "\n"


def _ident(name: str) -> str:
    return "experiment-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def as_html(analysis: ExperimentAnalysis) -> str:
    """A ``<section>`` with the table, the sample-ratio line and the reasons; all escaped."""
    return section(
        _ident(analysis.name), title(analysis),
        table(headers(analysis), rows(analysis), NUMERIC_COLUMNS),
        note(sample_ratio_line(analysis)),
        "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons(analysis)) + "</ul>"
        if analysis.comparisons else "",
    )
