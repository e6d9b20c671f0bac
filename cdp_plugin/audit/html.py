"""Render the audit report (see :mod:`cdp_plugin.audit.report`) as one self-contained HTML page.

The page needs nothing but itself: CSS and SVG charts are inline, there is no
script, and it references no URL (no fonts, stylesheets or images to fetch); a
Content-Security-Policy forbids loading anything, so even a value that
slipped through escaping could neither run nor call out. Every text taken
from the report is escaped. Each section pairs a chart with a table of the
numbers behind it.

This module lays out the page (head, style sheet, footer); the sections are
:mod:`cdp_plugin.audit.html_sections`, built from :mod:`cdp_plugin.audit.html_blocks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cdp_plugin.audit.charts import esc
from cdp_plugin.audit.html_sections import TITLE, render_sections

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d232b;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 940px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-top: 12px; border-top: 2px solid #e4e7eb; }
h3 { font-size: 16px; margin: 20px 0 6px; }
p.meta { color: #5b6470; margin: 0 0 16px; }
p.note { color: #5b6470; font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e4e7eb;
         vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td:first-child { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
code { font-size: 12px; overflow-wrap: anywhere; }
.wide { overflow-x: auto; }
details { margin: 6px 0 12px; }
summary { cursor: pointer; color: #2b5a9e; }
svg.chart { display: block; width: 100%; height: auto; margin: 8px 0; }
.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 12px 0; }
.figure { border: 1px solid #e4e7eb; border-radius: 6px; padding: 8px 10px; }
.figure b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.figure span { color: #5b6470; font-size: 12px; }
.status { font-weight: 600; padding: 1px 6px; border-radius: 4px; }
.status.verified { background: #dff3e9; color: #0f6b47; }
.status.failed { background: #fbe3dc; color: #9c2a06; }
.status.not-verified { background: #eceef1; color: #444; }
.warn { color: #9c2a06; font-weight: 600; }
@media print { body { background: #fff; } main { padding: 0; } details { display: block; } }
"""


def page(title: str, body: Iterable[str], footer: str) -> str:
    """A whole self-contained page: the style sheet and Content-Security-Policy
    above, ``body`` (HTML built from escaped parts) in ``<main>``, and ``footer``
    (plain text, escaped here) below it."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body><main>",
        *body,
        f'<footer><p class="note">{esc(footer)}</p></footer>',
        "</main></body>",
        "</html>",
        "",
    ])


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for ``report`` as a string (UTF-8 when written)."""
    return page(TITLE, render_sections(report),
                "Subjects are only counted: this report lists no subject pseudonym, message "
                f"id or field value. Format {report['format']}.")
