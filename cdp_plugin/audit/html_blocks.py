"""Building blocks of the audit report page: tables, figures, sections and notes.

Every function returns HTML built from escaped parts: text from the report is
escaped here, and :class:`Markup` marks HTML that may be inserted as is. The
page (:mod:`cdp_plugin.audit.html`) and the sections
(:mod:`cdp_plugin.audit.html_sections`) are made of these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cdp_plugin.audit.charts import esc, number

OPEN_ROWS = 24  # longer tables start folded


class Markup(str):
    """HTML built here from escaped parts; table cells insert it as is."""

    __slots__ = ()


def pct(share: float | None) -> str:
    """A share for reading: ``12.5%``, or ``–`` when there is none."""
    return "–" if share is None else f"{share:.1%}"


def when(ts: object) -> str:
    """A record time for reading: ``2024-05-01 12:00:00Z`` (seconds, UTC)."""
    if not isinstance(ts, str) or len(ts) < 19 or ts[10] != "T":
        return "–" if ts is None else str(ts)
    return f"{ts[:10]} {ts[11:19]}Z"


def _cell(value: object) -> str:
    if isinstance(value, Markup):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    return esc("–" if value is None else value)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]],
          numeric: Iterable[int] = (), *, empty: str = "none") -> str:
    """A table; columns listed in ``numeric`` are right-aligned; long tables start folded."""
    right = set(numeric)

    def cls(index: int) -> str:
        return ' class="n"' if index in right else ""

    body = ["<tr>" + "".join(f"<td{cls(i)}>{_cell(v)}</td>" for i, v in enumerate(row))
            + "</tr>" for row in rows]
    if not body:
        return f'<p class="note">{esc(empty)}</p>'
    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(headers))
    html = f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>\n' + \
        "\n".join(body) + "\n</tbody></table></div>"
    if len(body) > OPEN_ROWS:
        summary = f"<summary>Show the table ({len(body):,} rows)</summary>"
        return f"<details>{summary}\n{html}\n</details>"
    return html


def status(text: str) -> Markup:
    """A verification status (``verified``, ``failed``, ``not verified``) as a badge."""
    return Markup(f'<span class="status {esc(text.replace(" ", "-"))}">{esc(text)}</span>')


def figure(value: object, label: str) -> str:
    """One key figure: the value large, its label below."""
    return f'<div class="figure"><b>{_cell(value)}</b><span>{esc(label)}</span></div>'


def section(ident: str, heading: str, *parts: str) -> str:
    """A titled section of the page with the anchor ``ident``."""
    return f'<section id="{ident}">\n<h2>{esc(heading)}</h2>\n' + "\n".join(parts) + \
        "\n</section>"


def note(text: str) -> str:
    """A small explanatory paragraph."""
    return f'<p class="note">{esc(text)}</p>'


def unit(report: Mapping[str, Any]) -> str:
    """The time unit the report's series are grouped by, for labels."""
    return "hour (UTC)" if report["scope"]["unit"] == "hour" else "day (UTC)"

