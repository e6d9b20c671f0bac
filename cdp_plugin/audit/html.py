"""Render the audit report (see :mod:`cdp_plugin.audit.report`) as one self-contained HTML page.

The page needs nothing but itself: CSS and SVG charts are inline, there is no
script, and it references no URL (no fonts, stylesheets or images to fetch); a
Content-Security-Policy forbids loading anything, so even a value that
slipped through escaping could neither run nor call out. Every text taken
from the report is escaped. Each section pairs a chart with a table of the
numbers behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cdp_plugin.audit.charts import bar_chart, esc, line_chart, number, share_bars, stacked_bars

TITLE = "Audit governance report"
ACTION_COLORS = {"allow": "#1b9e77", "drop": "#d95f02", "quarantine": "#7570b3"}
STATE_COLORS = ("#1b9e77", "#d95f02", "#b8b8b8")
ENTRY_COLOR, EXIT_COLOR = "#1f78b4", "#e6ab02"
OPEN_ROWS = 24  # longer tables start folded
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


class Markup(str):
    """HTML built here from escaped parts; table cells insert it as is."""

    __slots__ = ()


def _pct(share: float | None) -> str:
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


def _status(status: str) -> Markup:
    return Markup(f'<span class="status {esc(status.replace(" ", "-"))}">{esc(status)}</span>')


def _figure(value: object, label: str) -> str:
    return f'<div class="figure"><b>{_cell(value)}</b><span>{esc(label)}</span></div>'


def _section(ident: str, heading: str, *parts: str) -> str:
    return f'<section id="{ident}">\n<h2>{esc(heading)}</h2>\n' + "\n".join(parts) + \
        "\n</section>"


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _unit(report: Mapping[str, Any]) -> str:
    return "hour (UTC)" if report["scope"]["unit"] == "hour" else "day (UTC)"


def _header(report: Mapping[str, Any]) -> str:
    scope = report["scope"]
    span = (f"{when(scope['first_ts'])} to {when(scope['last_ts'])}" if scope["first_ts"]
            else "no timed records")
    verification = scope["verification"]
    logs = [(log["name"], log["origin"], log["records"], log["unreadable_lines"],
             when(log["first_ts"]), when(log["last_ts"]), _status(log["verification"]["status"]),
             log["verification"]["detail"]) for log in scope["logs"]]
    problems = [f"{log['name']}: {log['layout_problem']}" for log in scope["logs"]
                if log["layout_problem"]]
    return "\n".join([
        f"<header><h1>{esc(TITLE)}</h1>",
        f'<p class="meta">Generated {esc(when(report["generated_at"]))} · directory '
        f'<code>{esc(scope["directory"])}</code> · {len(scope["logs"])} log(s) · '
        f'{number(scope["records"])} records · {esc(span)}</p></header>',
        _section(
            "scope", "Scope",
            f"<p>Verification: {_status(verification['status'])} "
            f"({verification['verified']} verified, {verification['failed']} failed, "
            f"{verification['not_verified']} not verified). "
            f"Times are UTC; charts group records per {esc(_unit(report))}.</p>",
            table(["log", "origin (from its checkpoints)", "records", "unreadable lines",
                   "first record", "last record", "verification", "detail"], logs, (2, 3)),
            *(_note(f"Layout problem in {p}") for p in problems),
            _note(f"{number(scope['untimed_records'])} records without a usable time, "
                  f"{number(scope['unreadable_lines'])} unreadable lines (skipped)."),
        ),
    ])


def _summary(report: Mapping[str, Any]) -> str:
    s, shares = report["summary"], report["decisions"]["share"]
    figures = [
        _figure(s["records"], "audit records"), _figure(s["decisions"], "decisions"),
        _figure(s["allow"], f"allowed ({_pct(shares['allow'])})"),
        _figure(s["drop"], f"dropped ({_pct(shares['drop'])})"),
        _figure(s["quarantine"], f"quarantined ({_pct(shares['quarantine'])})"),
        _figure(s["invalid"], "invalid events"), _figure(s["duplicates"], "duplicates"),
        _figure(s["plugin_errors"], "plugin errors"),
        _figure(s["audit_repairs"], "audit log repairs"),
        _figure(s["rules_loads"], f"rule-set loads ({s['rules_changes']} with changes)"),
        _figure(s["reconsent_subjects"], "subjects due for re-consent"),
        _figure(s["unknown_records"], "records of other kinds"),
    ]
    return _section("summary", "Summary", '<div class="figures">', *figures, "</div>",
                    f"<p>Verification of the logs: {_status(s['verification'])}.</p>")


def _decisions(report: Mapping[str, Any]) -> str:
    data = report["decisions"]
    actions = list(data["by_action"])
    labels = [row["bucket"] for row in data["series"]]
    chart = stacked_bars(
        "chart-decisions", f"Decisions per {_unit(report)} by action", labels,
        [(a, [row[a] for row in data["series"]]) for a in actions],
        x_label=f"time, per {_unit(report)}", y_label="decisions",
        colors=[ACTION_COLORS.get(a, "#666666") for a in actions])
    rows = [(row["bucket"], *(row[a] for a in actions), sum(row[a] for a in actions))
            for row in data["series"]]
    totals = [("all", *(data["by_action"][a] for a in actions), data["total"])]
    numeric = range(1, len(actions) + 2)
    return _section("decisions", "1. Decisions over time", chart,
                    table(["time", *actions, "total"], totals + rows, numeric))


def _rejections(report: Mapping[str, Any]) -> str:
    data, errors = report["rejections"], report["errors"]
    invalid = data["invalid"]
    charts = [
        bar_chart("chart-drop-reasons", "Drop reasons", list(data["reasons"]["drop"].items()),
                  x_label="dropped decisions with this reason", color=ACTION_COLORS["drop"]),
        bar_chart("chart-quarantine-reasons", "Quarantine reasons",
                  list(data["reasons"]["quarantine"].items()),
                  x_label="quarantined decisions with this reason",
                  color=ACTION_COLORS["quarantine"]),
    ]
    reasons = [(action, reason, count) for action, counts in data["reasons"].items()
               for reason, count in counts.items()]
    return _section(
        "rejections", "2. Drops, quarantines, invalid events and duplicates",
        *charts, table(["action", "reason", "decisions"], reasons, [2]),
        _note("A decision can carry several reasons, so reasons can add up to more than "
              "the decisions."),
        bar_chart("chart-invalid-fields", "Invalid events by field",
                  list(invalid["by_field"].items()), x_label="invalid events with a problem "
                  "in this field", color="#a6761d"),
        f"<p>{number(invalid['events'])} invalid events "
        f"({number(invalid['without_message_id'])} without a usable message id).</p>",
        table(["field", "problem", "events"],
              [(r["field"], r["problem"], r["count"]) for r in invalid["by_problem"]], [2]),
        "<h3>Duplicates and plugin errors</h3>",
        f"<p>{number(data['duplicates'])} duplicate events were discarded; "
        f"{number(errors['plugin_errors'])} events were dropped because a plugin failed.</p>",
        table(["plugin", "hook", "events"],
              [(r["plugin"], r["hook"], r["count"]) for r in errors["by_plugin"]], [2],
              empty="no plugin errors"),
    )


def _consent(report: Mapping[str, Any]) -> str:
    data = report["consent"]
    states = ("granted", "denied", "unknown")
    overall = data["overall"]
    chart = share_bars("chart-consent-purpose", "Consent state per purpose, all decisions",
                       [(p, [overall[p][s] for s in states]) for p in data["purposes"]],
                       states, x_label="share of decisions", colors=STATE_COLORS)
    by_jurisdiction = data["by_jurisdiction"]
    per_j = [(f"{j} · {p}", [v["purposes"][p][s] for s in states])
             for j, v in by_jurisdiction.items() for p in data["purposes"]]
    chart_j = share_bars("chart-consent-jurisdiction", "Consent state per jurisdiction and "
                         "purpose", per_j, states, x_label="share of decisions",
                         colors=STATE_COLORS)
    rows = [(p, overall[p]["granted"], _pct(overall[p]["granted_share"]), overall[p]["denied"],
             _pct(overall[p]["denied_share"]), overall[p]["unknown"],
             _pct(overall[p]["unknown_share"]), data["purposes_used"][p])
            for p in data["purposes"]]
    rows_j = [(j, v["decisions"], p, _pct(v["purposes"][p]["granted_share"]),
               _pct(v["purposes"][p]["denied_share"]), _pct(v["purposes"][p]["unknown_share"]))
              for j, v in by_jurisdiction.items() for p in data["purposes"]]
    updates = data["updates"]
    return _section(
        "consent", "3. Consent rates by purpose and jurisdiction",
        _note(f"Shares of the {number(data['decisions'])} decisions in which each purpose's "
              "consent was granted, denied or unknown (absent counts as unknown)."),
        chart,
        table(["purpose", "granted", "%", "denied", "%", "unknown", "%",
               "allowed under this purpose"], rows, range(1, 8)),
        "<h3>Per jurisdiction</h3>", chart_j,
        table(["jurisdiction", "decisions", "purpose", "granted", "denied", "unknown"], rows_j,
              (1, 3, 4, 5)),
        "<h3>Consent updates recorded</h3>",
        f"<p>{number(updates['records'])} preference updates recorded.</p>",
        table(["source", "updates"], list(updates["by_source"].items()), [1]),
        table(["purpose", "previous", "current", "changes"],
              [(c["purpose"], c["previous"], c["current"], c["count"])
               for c in updates["changes"]], [3], empty="no consent changes"),
    )


def _segments(report: Mapping[str, Any]) -> str:
    data = report["segments"]
    names, series = data["names"], data["series"]
    labels = [p["bucket"] for p in series[names[0]]] if names else []
    chart = line_chart("chart-segment-size", f"Segment size per {_unit(report)}", labels,
                       [(n, [p["size"] for p in series[n]]) for n in names],
                       x_label=f"time, per {_unit(report)}", y_label="subjects in segment")
    moves: list[tuple[str, float]] = []
    colors: list[str] = []
    for name in names:
        moves += [(f"{name} · entries", data["per_segment"][name]["entries"]),
                  (f"{name} · exits", data["per_segment"][name]["exits"])]
        colors += [ENTRY_COLOR, EXIT_COLOR]
    moves_chart = bar_chart("chart-segment-moves", "Segment entries and exits", moves,
                            x_label="subjects entering or leaving", colors=colors, limit=40)
    rows = [(n, s["mode"], s["entries"], s["exits"], s["net"], s["peak"], _pct(s["churn"]),
             s["active_changes"], s["shadow_changes"])
            for n, s in data["per_segment"].items()]
    over_time = [(label, *(f"{number(series[n][i]['size'])} (+{series[n][i]['entries']} "
                           f"−{series[n][i]['exits']})" for n in names))
                 for i, label in enumerate(labels)]
    return _section(
        "segments", "4. Segment sizes and drift",
        _note("Sizes are counted from the entries and exits in these logs, starting at 0 at the "
              "first record. Churn is exits per entry. Shadow segments are computed but not "
              "activated."),
        chart, moves_chart,
        table(["segment", "mode", "entries", "exits", "net size", "peak size", "churn",
               "active changes", "shadow changes"], rows, (2, 3, 4, 5, 6, 7, 8),
              empty="no segment changes"),
        "<h3>Size over time</h3>",
        _note("Each cell: size at the end of the period (+entries −exits in it)."),
        table(["time", *names], over_time, range(1, len(names) + 1), empty="no segments"),
    )


def _short(digest: object) -> str:
    return "absent" if digest is None else str(digest)[:12]


def _rules(report: Mapping[str, Any]) -> str:
    data = report["rules"]
    versions = data["by_version"]
    chart = bar_chart("chart-rules-versions", "Decisions per rule-set version",
                      [(v, n["decisions"]) for v, n in versions.items()],
                      x_label="decisions taken under this rules version", color="#1f78b4")
    shown, hidden = [], 0
    for load in data["loads"]:
        changes = [f"version {load['previous_version']} → {load['rules_version']}"
                   ] if load["version_changed"] else []
        changes += [f"{c['file']}: {_short(c['before'])} → {_short(c['after'])}"
                    for c in load["changed"]]
        changes += [f"plugin added: {p}" for p in load["plugins_added"]]
        changes += [f"plugin removed: {p}" for p in load["plugins_removed"]]
        if load["first"]:
            changes = ["first load in these logs"]
        if not changes and len(data["loads"]) > OPEN_ROWS:
            hidden += 1
            continue
        shown.append((when(load["ts"]), load["log"], load["rules_version"], load["files"],
                      "; ".join(changes) or "no change"))
    unannounced = [v for v, n in versions.items() if n["decisions"] and not n["loads"]]
    return _section(
        "rules", "5. Rule-set changes",
        _note("Each load of the rules, in time order across logs, with the files whose "
              "SHA-256 changed since the previous load."),
        chart,
        table(["time", "log", "rules version", "files", "changes since the previous load"],
              shown, [3], empty="no rules.loaded records"),
        *([_note(f"{hidden} loads without any change are not listed.")] if hidden else []),
        table(["rules version", "loads", "decisions"],
              [(v, n["loads"], n["decisions"]) for v, n in versions.items()], (1, 2)),
        *([f'<p class="warn">Decisions under rules versions never loaded in these logs: '
           f'{esc(", ".join(unannounced))}</p>'] if unannounced else []),
    )


def _reconsent(report: Mapping[str, Any]) -> str:
    data = report["reconsent"]
    chart = bar_chart("chart-reconsent", "Re-consent due, by reason",
                      list(data["by_reason"].items()), x_label="re-consent notices")
    note = ("" if data["present"] else
            _note("No consent.reconsent_due records in these logs, so 0 subjects are shown; "
                  "logs written before re-consent tracking have none."))
    return _section(
        "reconsent", "6. Subjects due for re-consent",
        f"<p>{number(data['subjects'])} distinct subjects are due for re-consent "
        f"({number(data['records'])} notices).</p>", note, chart,
        table(["reason", "notices"], list(data["by_reason"].items()), [1]),
    )


def _errors(report: Mapping[str, Any]) -> str:
    data = report["errors"]
    chart = bar_chart("chart-plugin-errors", "Plugin errors by plugin and hook",
                      [(f"{r['plugin']} · {r['hook']}", r["count"]) for r in data["by_plugin"]],
                      x_label="events dropped by the failure", color="#e7298a")
    repairs = [(when(r["ts"]), r["log"], r["segment"], r["truncated_bytes"])
               for r in data["repair_list"]]
    return _section(
        "errors", "7. Errors and audit log repairs",
        f"<p>Plugin errors: {number(data['plugin_errors'])}. Audit log repairs after an "
        f"interrupted write: {number(data['repairs'])}.</p>",
        chart,
        table(["error type", "events"], list(data["by_error_type"].items()), [1],
              empty="no plugin errors"),
        "<h3>Audit log repairs</h3>",
        table(["time", "log", "file cut", "bytes cut"], repairs, [3], empty="no repairs"),
    )


def _minimization(report: Mapping[str, Any]) -> str:
    data = report["minimization"]
    steps = data["by_action"]
    chart = bar_chart("chart-minimization", "Minimization actions applied",
                      [(s, v["decisions"]) for s, v in steps.items()],
                      x_label="forwarded events where the action was applied", color="#66a61e")
    top = data["top_paths"]
    charts = [bar_chart(f"chart-paths-{step}", f"Top {label} field paths",
                        [(p["path"], p["count"]) for p in top.get(step, [])],
                        x_label=f"events where this path was {label}", color=color)
              for step, label, color in (("drop", "dropped", ACTION_COLORS["drop"]),
                                         ("hash", "hashed", ACTION_COLORS["quarantine"]))]
    paths = [(step, p["path"], p["count"]) for step, items in top.items() for p in items]
    return _section(
        "minimization", "8. Minimization",
        f"<p>{number(data['decisions'])} forwarded events were minimized. Field paths only; "
        "values are never recorded.</p>",
        chart,
        table(["action", "events", "fields"],
              [(s, v["decisions"], v["fields"]) for s, v in steps.items()], (1, 2)),
        *charts,
        table(["action", "field path", "events"], paths, [2]),
    )


def _other(report: Mapping[str, Any]) -> str:
    data = report["other"]
    chart = bar_chart("chart-kinds", "Audit records by kind",
                      list(data["records_by_kind"].items()), x_label="records", color="#666666")
    lifecycle = [("quarantined events released", data["quarantine_released"]),
                 *((f"quarantined events purged: {r}", n)
                   for r, n in data["quarantine_purged"].items()),
                 ("subject erasures", data["subjects_erased"]),
                 ("key rotations", len(data["keys_rotated"]))]
    return _section(
        "other", "9. Lifecycle and other records",
        chart,
        table(["lifecycle", "count"], lifecycle, [1]),
        table(["key rotation time", "log"],
              [(when(r["ts"]), r["log"]) for r in data["keys_rotated"]], empty="no key rotations"),
        "<h3>Record kinds this report does not interpret</h3>",
        table(["kind", "records"], list(data["unknown_kinds"].items()), [1],
              empty="none: every record kind was interpreted"),
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for ``report`` as a string (UTF-8 when written)."""
    body = [_header(report), _summary(report), _decisions(report), _rejections(report),
            _consent(report), _segments(report), _rules(report), _reconsent(report),
            _errors(report), _minimization(report), _other(report)]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(TITLE)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body><main>",
        *body,
        '<footer><p class="note">Subjects are only counted: this report lists no subject '
        "pseudonym, message id or field value. Format "
        f"{esc(report['format'])}.</p></footer>",
        "</main></body>",
        "</html>",
        "",
    ])
