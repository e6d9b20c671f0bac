"""Small inline SVG charts for the audit report: no dependencies, no scripts, no URLs.

Each function returns one ``<svg class="chart">`` element as a string that is
well-formed XML and can be pasted into HTML as is. Every chart carries a
``<title>`` and ``<desc>`` referenced by ``aria-labelledby``, axis labels, and
a legend where there is more than one series. Every text from the data goes
through :func:`clean` and :func:`html.escape`, so a value such as
``<script>`` is shown, never interpreted. An empty input draws the axes and
a "no data" note rather than failing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape

WIDTH = 860
LEGEND_ROW = 18
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
           "#1f78b4", "#b15928", "#666666")
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_FONT = 'font-family="system-ui, sans-serif"'

Series = tuple[str, Sequence[float]]


def clean(text: object) -> str:
    """``text`` as a string XML can hold: control characters and lone surrogates become U+FFFD."""
    return _FORBIDDEN.sub("\ufffd", str(text))


def esc(text: object) -> str:
    """Escaped for XML and HTML text and attribute values."""
    return escape(clean(text), quote=True)


def number(value: float) -> str:
    """A count with thousands separators, or a value with at most two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ticks(maximum: float, count: int = 5, *, whole: bool = True) -> list[float]:
    """Round ticks from 0 to at least ``maximum``: steps of 1, 2 or 5 times a power of ten.

    With ``whole`` (counts) the step is at least 1, so no tick reads "0.50 events".
    """
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(step, 1)
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(n * step, 10) for n in range(round(top / step) + 1)]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(ident: str, title: str, description: str, height: int) -> list[str]:
    ident = re.sub(r"[^A-Za-z0-9_-]", "-", ident)
    return [
        f'<svg class="chart" id="{ident}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-labelledby="{ident}-t {ident}-d" {_FONT} '
        'font-size="12">',
        f'<title id="{ident}-t">{esc(title)}</title>',
        f'<desc id="{ident}-d">{esc(description)}</desc>',
        f'<text x="4" y="18" font-size="14" font-weight="bold" aria-hidden="true">'
        f'{esc(title)}</text>',
    ]


def _legend(names: Sequence[str], colors: Sequence[str], x: float,
            y: float) -> tuple[list[str], int]:
    """Legend entries from ``(x, y)``, wrapping before the right edge; also the height added."""
    parts, offset, extra = [], 0.0, 0
    for name, color in zip(names, colors, strict=False):
        label = _shorten(clean(name), 28)
        width = 24 + 7 * len(label)  # about 7 px per character at 12 px
        if offset and x + offset + width > WIDTH - 8:
            offset, extra = 0.0, extra + LEGEND_ROW
        parts.append(f'<rect x="{x + offset:.1f}" y="{y + extra - 9}" width="10" height="10" '
                     f'fill="{color}"/>')
        parts.append(f'<text x="{x + offset + 14:.1f}" y="{y + extra}">{esc(label)}</text>')
        offset += width
    return parts, extra


def _no_data(x: float, y: float) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="#666">no data</text>'


def _colors(count: int, colors: Sequence[str] | None) -> list[str]:
    chosen = list(colors or ())
    return [chosen[i] if i < len(chosen) else PALETTE[i % len(PALETTE)] for i in range(count)]


def _time_axes(parts: list[str], labels: Sequence[str], ticks: Sequence[tuple[float, str]],
               box: tuple[float, float, float, float], x_label: str, y_label: str) -> None:
    """Grid lines, y ticks, thinned x labels and both axis titles around the plot ``box``.

    Each tick is ``(height as a fraction of the plot, text)``.
    """
    left, top, width, height = box
    bottom = top + height
    for fraction, text in ticks:
        y = bottom - height * fraction
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" '
                     'stroke="#e3e3e3"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(text)}</text>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{left + width}" y2="{bottom}" '
                 'stroke="#444"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#444"/>')
    every = max(1, math.ceil(len(labels) / 8))
    slot = width / max(len(labels), 1)
    for index in range(0, len(labels), every):
        x = left + slot * (index + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
                     f'{esc(labels[index])}</text>')
    parts.append(f'<text x="{left + width / 2}" y="{bottom + 38}" text-anchor="middle" '
                 f'font-weight="bold">{esc(x_label)}</text>')
    middle = top + height / 2
    parts.append(f'<text x="14" y="{middle}" text-anchor="middle" font-weight="bold" '
                 f'transform="rotate(-90 14 {middle})">{esc(y_label)}</text>')


def stacked_bars(ident: str, title: str, labels: Sequence[str], series: Sequence[Series], *,
                 x_label: str, y_label: str, colors: Sequence[str] | None = None,
                 height: int = 340) -> str:
    """Vertical bars, one per label, each stacking the series' values in order.

    Each series' values align with ``labels``; a missing value counts as 0.
    """
    left, right, bottom = 64, 16, 56
    palette = _colors(len(series), colors)
    legend, extra = _legend([name for name, _ in series], palette, left, 40)
    top, height = 56 + extra, height + extra
    box = (left, top, WIDTH - left - right, height - top - bottom)
    totals = [sum(values[i] if i < len(values) else 0 for _, values in series)
              for i in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0))
    description = f"{len(labels)} bars of {', '.join(name for name, _ in series)}"
    parts = _open(ident, title, description, height) + legend
    _time_axes(parts, labels, [(t / ticks[-1], number(t)) for t in ticks], box, x_label, y_label)
    slot = box[2] / max(len(labels), 1)
    bar = min(max(slot * 0.8, 0.5), 60.0)  # one bucket should not look like a wall
    for index, label in enumerate(labels):
        base = float(top + box[3])
        for (name, values), color in zip(series, palette, strict=True):
            value = values[index] if index < len(values) else 0
            if value <= 0:
                continue
            size = box[3] * value / ticks[-1]
            base -= size
            parts.append(
                f'<rect x="{left + slot * index + (slot - bar) / 2:.2f}" y="{base:.2f}" '
                f'width="{bar:.2f}" height="{size:.2f}" fill="{color}">'
                f'<title>{esc(label)}: {esc(name)} {esc(number(value))}</title></rect>')
    if not any(totals):
        parts.append(_no_data(left + box[2] / 2, top + box[3] / 2))
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(ident: str, title: str, labels: Sequence[str], series: Sequence[Series], *,
               x_label: str, y_label: str, colors: Sequence[str] | None = None,
               height: int = 340) -> str:
    """One line per series over ``labels``; a negative value moves the axis' 0 up."""
    left, right, bottom = 64, 16, 56
    palette = _colors(len(series), colors)
    legend, extra = _legend([name for name, _ in series], palette, left, 40)
    top, height = 56 + extra, height + extra
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs]
    low, high = min(values, default=0.0), max(values, default=0.0)
    counts = all(float(v).is_integer() for v in values)
    ticks = nice_ticks(max(high, 0) - min(low, 0), whole=counts)
    floor = min(low, 0.0)
    span = ticks[-1] or 1.0
    parts = _open(ident, title, f"{len(series)} lines over {len(labels)} points", height)
    parts += legend
    axis = [(t / span, number(t + floor)) for t in ticks]
    _time_axes(parts, labels, axis, (left, top, plot_w, plot_h), x_label, y_label)
    slot = plot_w / max(len(labels), 1)
    for (name, points), color in zip(series, palette, strict=True):
        coords = " ".join(
            f"{left + slot * (i + 0.5):.1f},{top + plot_h - plot_h * (v - floor) / span:.1f}"
            for i, v in enumerate(points))
        if coords:
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" '
                         f'stroke-width="2"><title>{esc(name)}</title></polyline>')
        if len(points) <= 40:  # dots keep short series, and single points, visible
            parts.extend(
                f'<circle cx="{left + slot * (i + 0.5):.1f}" '
                f'cy="{top + plot_h - plot_h * (v - floor) / span:.1f}" r="3" fill="{color}">'
                f'<title>{esc(name)} {esc(labels[i] if i < len(labels) else "")}: '
                f'{esc(number(v))}</title></circle>'
                for i, v in enumerate(points))
    if not values:
        parts.append(_no_data(left + plot_w / 2, top + plot_h / 2))
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(ident: str, title: str, items: Sequence[tuple[str, float]], *, x_label: str,
              color: str = PALETTE[0], colors: Sequence[str] | None = None,
              limit: int = 25) -> str:
    """Horizontal bars, one row per ``(label, value)``, in the order given, at most ``limit``.

    ``colors`` gives one color per row; rows beyond it use ``color``.
    """
    rows = list(items)[:limit]
    fills = [colors[i] if colors and i < len(colors) else color for i in range(len(rows))]
    row_h, left, top, right = 22, 260, 30, 70
    height = top + max(len(rows), 1) * row_h + 46
    plot_w = WIDTH - left - right
    ticks = nice_ticks(max((v for _, v in rows), default=0))
    shown = f"top {len(rows)} of {len(items)}" if len(items) > len(rows) else f"{len(rows)}"
    parts = _open(ident, title, f"{shown} bars: {x_label}", height)
    bottom = top + max(len(rows), 1) * row_h
    for tick in ticks:
        x = left + plot_w * tick / ticks[-1]
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">'
                     f'{esc(number(tick))}</text>')
    for index, (label, value) in enumerate(rows):
        y = top + index * row_h
        width = plot_w * value / ticks[-1]
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">'
                     f'{esc(_shorten(clean(label), 38))}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{width:.2f}" height="{row_h - 8}" '
                     f'fill="{fills[index]}"><title>{esc(label)}: {esc(number(value))}</title>'
                     '</rect>')
        parts.append(f'<text x="{left + width + 6:.1f}" y="{y + 15}">{esc(number(value))}</text>')
    if not rows:
        parts.append(_no_data(left + plot_w / 2, top + 15))
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#444"/>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{bottom + 36}" text-anchor="middle" '
                 f'font-weight="bold">{esc(x_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def share_bars(ident: str, title: str, rows: Sequence[tuple[str, Sequence[float]]],
               parts_names: Sequence[str], *, x_label: str,
               colors: Sequence[str] | None = None) -> str:
    """Horizontal 100 % bars: each row splits into its parts' shares (values are counts)."""
    row_h, left, right = 22, 260, 24
    palette = _colors(len(parts_names), colors)
    legend, extra = _legend(parts_names, palette, left, 38)
    top = 50 + extra
    height = top + max(len(rows), 1) * row_h + 46
    plot_w = WIDTH - left - right
    parts = _open(ident, title, f"{len(rows)} rows split into {', '.join(parts_names)}", height)
    parts += legend
    bottom = top + max(len(rows), 1) * row_h
    for tick in (0, 25, 50, 75, 100):
        x = left + plot_w * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{tick} %</text>')
    for index, (label, values) in enumerate(rows):
        y = top + index * row_h
        total = sum(values)
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">'
                     f'{esc(_shorten(clean(label), 38))}</text>')
        x = float(left)
        for name, value, color in zip(parts_names, values, palette, strict=False):
            if total <= 0 or value <= 0:
                continue
            width = plot_w * value / total
            parts.append(f'<rect x="{x:.2f}" y="{y + 4}" width="{width:.2f}" '
                         f'height="{row_h - 8}" fill="{color}"><title>{esc(label)}: {esc(name)} '
                         f'{value / total:.1%} ({esc(number(value))})</title></rect>')
            x += width
    if not rows:
        parts.append(_no_data(left + plot_w / 2, top + 15))
    parts.append(f'<text x="{left + plot_w / 2}" y="{bottom + 36}" text-anchor="middle" '
                 f'font-weight="bold">{esc(x_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
