"""Showing a :class:`~cdp_plugin.rules_diff.RulesDiff`: aligned text, JSON, an HTML page.

Every renderer shows each :class:`~cdp_plugin.rules_diff.comparers.Finding`
through its columns, so a new comparer's section appears without a change
here. The HTML page is built like the governance report
(:mod:`cdp_plugin.audit.html`): self-contained, no script, a
Content-Security-Policy that loads nothing, and every value escaped
(``html.escape``, through :func:`cdp_plugin.audit.charts.esc`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cdp_plugin.audit.charts import esc
from cdp_plugin.audit.html import page
from cdp_plugin.audit.html_blocks import figure, note, section, table
from cdp_plugin.rules_diff import RulesDiff
from cdp_plugin.rules_diff.comparers import Finding

TITLE = "Rules diff"
MAX_TEXT_ROWS = 50
"""Changes listed per section in the text summary; JSON and HTML list them all."""
_MAX_CELL = 60


def cell(value: Any, *, short: bool = False) -> str:
    """A change's value as text: lists joined, mappings as ``name n``, example
    messages as ``line N (pseudonym)``, or only ``lines N, M`` when ``short``."""
    if value is None:
        return "–"
    if isinstance(value, Mapping):
        return ", ".join(f"{name} {count}" for name, count in value.items()) or "–"
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, Mapping) and "line" in item for item in value):
            if short:
                return "lines " + ", ".join(str(item["line"]) for item in value)
            return ", ".join(_example(item) for item in value)
        return ", ".join(str(item) for item in value) or "–"
    return str(value)


def _example(item: Mapping[str, Any]) -> str:
    message = item.get("message")
    return f"line {item['line']}" if message is None else f"line {item['line']} ({message})"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_CELL else text[:_MAX_CELL - 1] + "…"


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]],
             numeric: set[int]) -> list[str]:
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        cells = [value.rjust(widths[i]) if i in numeric else value.ljust(widths[i])
                 for i, value in enumerate(values)]
        return "  " + "  ".join(cells).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _heading(diff: RulesDiff) -> list[str]:
    until = diff.as_dict()["events"]["replayed_until"] or "no dated message"
    return [
        f"old rules  {diff.old_directory} (version {diff.old_version})",
        f"new rules  {diff.new_directory} (version {diff.new_version})",
        f"events     {diff.events_file}: {diff.messages} messages on {diff.lines} lines, "
        f"replayed until {until}",
    ]


def _totals(finding: Finding) -> str:
    return ", ".join(f"{count} {name}" for name, count in finding.totals.items())


def render_text(diff: RulesDiff) -> str:
    """The summary for a terminal: each section's changes as an aligned table."""
    lines = _heading(diff)
    if not diff.differences:
        lines += ["", "No differences: the new rules decide every message as the old ones do."]
        return "\n".join(lines) + "\n"
    for finding in diff.findings:
        lines += ["", f"{finding.title}: " + (
            f"{len(finding.changes)} change(s), {_totals(finding)}" if finding.changes
            else "no change")]
        if not finding.changes:
            continue
        shown = finding.changes[:MAX_TEXT_ROWS]
        rows = [[_clip(cell(row.get(column.key), short=True)) for column in finding.columns]
                for row in shown]
        numeric = {i for i, column in enumerate(finding.columns) if column.numeric}
        lines += _aligned([column.heading for column in finding.columns], rows, numeric)
        if len(finding.changes) > len(shown):
            lines.append(f"  … {len(finding.changes) - len(shown)} more (see --json or --html)")
    return "\n".join(lines) + "\n"


def render_json(diff: RulesDiff) -> str:
    """The diff as indented JSON text ending in a newline (see :meth:`RulesDiff.as_dict`)."""
    return json.dumps(diff.as_dict(), indent=2, ensure_ascii=False) + "\n"


def _section(finding: Finding) -> str:
    numeric = [i for i, column in enumerate(finding.columns) if column.numeric]
    rows = [[row.get(column.key) if column.numeric else cell(row.get(column.key))
             for column in finding.columns] for row in finding.changes]
    summary = _totals(finding) if finding.changes else "no change"
    return section(f"diff-{finding.name}", finding.title, note(finding.description),
                   f"<p>{esc(summary)}</p>",
                   table([column.heading for column in finding.columns], rows, numeric,
                         empty="no change"))


def render_html(diff: RulesDiff) -> str:
    """A standalone page: the heading, key figures, one section per comparer."""
    header = "\n".join([
        f"<header><h1>{esc(TITLE)}</h1>",
        *(f'<p class="meta">{esc(line)}</p>' for line in _heading(diff)),
        "</header>",
        '<div class="figures">',
        figure(diff.differences, "changes listed"),
        *(figure(len(finding.changes), finding.title) for finding in diff.findings),
        "</div>",
    ])
    return page(f"{TITLE}: {diff.old_version} → {diff.new_version}",
                [header, *(_section(finding) for finding in diff.findings)],
                "Messages and subjects are named only by pseudonyms under a key made for "
                "this replay, fields only by path: this page holds no identifier or field "
                f"value. Format {diff.as_dict()['format']}.")
