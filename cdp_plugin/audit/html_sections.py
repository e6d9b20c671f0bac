"""The sections of the audit report page, one renderer each, in page order.

Each renderer takes the report dict of :mod:`cdp_plugin.audit.report` and
returns one ``<section>`` (the header also carries the page's title): a chart
and the table of the numbers behind it. :func:`render_sections` gives them all
in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cdp_plugin.audit.charts import bar_chart, esc, line_chart, number, share_bars, stacked_bars
from cdp_plugin.audit.html_blocks import (
    OPEN_ROWS,
    figure,
    note,
    pct,
    section,
    status,
    table,
    unit,
    when,
)

TITLE = "Audit governance report"
ACTION_COLORS = {"allow": "#1b9e77", "drop": "#d95f02", "quarantine": "#7570b3"}
STATE_COLORS = ("#1b9e77", "#d95f02", "#b8b8b8")
ENTRY_COLOR, EXIT_COLOR = "#1f78b4", "#e6ab02"


def _header(report: Mapping[str, Any]) -> str:
    scope = report["scope"]
    span = (f"{when(scope['first_ts'])} to {when(scope['last_ts'])}" if scope["first_ts"]
            else "no timed records")
    verification = scope["verification"]
    logs = [(log["name"], log["origin"], log["records"], log["unreadable_lines"],
             when(log["first_ts"]), when(log["last_ts"]), status(log["verification"]["status"]),
             log["verification"]["detail"]) for log in scope["logs"]]
    problems = [f"{log['name']}: {log['layout_problem']}" for log in scope["logs"]
                if log["layout_problem"]]
    return "\n".join([
        f"<header><h1>{esc(TITLE)}</h1>",
        f'<p class="meta">Generated {esc(when(report["generated_at"]))} · directory '
        f'<code>{esc(scope["directory"])}</code> · {len(scope["logs"])} log(s) · '
        f'{number(scope["records"])} records · {esc(span)}</p></header>',
        section(
            "scope", "Scope",
            f"<p>Verification: {status(verification['status'])} "
            f"({verification['verified']} verified, {verification['failed']} failed, "
            f"{verification['not_verified']} not verified). "
            f"Times are UTC; charts group records per {esc(unit(report))}.</p>",
            table(["log", "origin (from its checkpoints)", "records", "unreadable lines",
                   "first record", "last record", "verification", "detail"], logs, (2, 3)),
            *(note(f"Layout problem in {p}") for p in problems),
            note(f"{number(scope['untimed_records'])} records without a usable time, "
                 f"{number(scope['unreadable_lines'])} unreadable lines (skipped)."),
        ),
    ])


def _summary(report: Mapping[str, Any]) -> str:
    s, shares = report["summary"], report["decisions"]["share"]
    figures = [
        figure(s["records"], "audit records"), figure(s["decisions"], "decisions"),
        figure(s["allow"], f"allowed ({pct(shares['allow'])})"),
        figure(s["drop"], f"dropped ({pct(shares['drop'])})"),
        figure(s["quarantine"], f"quarantined ({pct(shares['quarantine'])})"),
        figure(s["invalid"], "invalid events"), figure(s["duplicates"], "duplicates"),
        figure(s["plugin_errors"], "plugin errors"),
        figure(s["audit_repairs"], "audit log repairs"),
        figure(s["rules_loads"], f"rule-set loads ({s['rules_changes']} with changes)"),
        figure(s["reconsent_subjects"], "subjects due for re-consent"),
        figure(s["unknown_records"], "records of other kinds"),
    ]
    return section("summary", "Summary", '<div class="figures">', *figures, "</div>",
                   f"<p>Verification of the logs: {status(s['verification'])}.</p>")


def _decisions(report: Mapping[str, Any]) -> str:
    data = report["decisions"]
    actions = list(data["by_action"])
    labels = [row["bucket"] for row in data["series"]]
    chart = stacked_bars(
        "chart-decisions", f"Decisions per {unit(report)} by action", labels,
        [(a, [row[a] for row in data["series"]]) for a in actions],
        x_label=f"time, per {unit(report)}", y_label="decisions",
        colors=[ACTION_COLORS.get(a, "#666666") for a in actions])
    rows = [(row["bucket"], *(row[a] for a in actions), sum(row[a] for a in actions))
            for row in data["series"]]
    totals = [("all", *(data["by_action"][a] for a in actions), data["total"])]
    numeric = range(1, len(actions) + 2)
    return section("decisions", "1. Decisions over time", chart,
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
    return section(
        "rejections", "2. Drops, quarantines, invalid events and duplicates",
        *charts, table(["action", "reason", "decisions"], reasons, [2]),
        note("A decision can carry several reasons, so reasons can add up to more than "
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
    rows = [(p, overall[p]["granted"], pct(overall[p]["granted_share"]), overall[p]["denied"],
             pct(overall[p]["denied_share"]), overall[p]["unknown"],
             pct(overall[p]["unknown_share"]), data["purposes_used"][p])
            for p in data["purposes"]]
    rows_j = [(j, v["decisions"], p, pct(v["purposes"][p]["granted_share"]),
               pct(v["purposes"][p]["denied_share"]), pct(v["purposes"][p]["unknown_share"]))
              for j, v in by_jurisdiction.items() for p in data["purposes"]]
    updates = data["updates"]
    return section(
        "consent", "3. Consent rates by purpose and jurisdiction",
        note(f"Shares of the {number(data['decisions'])} decisions in which each purpose's "
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
    chart = line_chart("chart-segment-size", f"Segment size per {unit(report)}", labels,
                       [(n, [p["size"] for p in series[n]]) for n in names],
                       x_label=f"time, per {unit(report)}", y_label="subjects in segment")
    moves: list[tuple[str, float]] = []
    colors: list[str] = []
    for name in names:
        moves += [(f"{name} · entries", data["per_segment"][name]["entries"]),
                  (f"{name} · exits", data["per_segment"][name]["exits"])]
        colors += [ENTRY_COLOR, EXIT_COLOR]
    moves_chart = bar_chart("chart-segment-moves", "Segment entries and exits", moves,
                            x_label="subjects entering or leaving", colors=colors, limit=40)
    rows = [(n, s["mode"], s["entries"], s["exits"], s["net"], s["peak"], pct(s["churn"]),
             s["active_changes"], s["shadow_changes"])
            for n, s in data["per_segment"].items()]
    over_time = [(label, *(f"{number(series[n][i]['size'])} (+{series[n][i]['entries']} "
                           f"−{series[n][i]['exits']})" for n in names))
                 for i, label in enumerate(labels)]
    return section(
        "segments", "4. Segment sizes and drift",
        note("Sizes are counted from the entries and exits in these logs, starting at 0 at the "
             "first record. Churn is exits per entry. Shadow segments are computed but not "
             "activated."),
        chart, moves_chart,
        table(["segment", "mode", "entries", "exits", "net size", "peak size", "churn",
               "active changes", "shadow changes"], rows, (2, 3, 4, 5, 6, 7, 8),
              empty="no segment changes"),
        "<h3>Size over time</h3>",
        note("Each cell: size at the end of the period (+entries −exits in it)."),
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
    announced = [(when(c["ts"]), c["log"], f"{c['previous_version']} → {c['rules_version']}",
                  "; ".join(f"{f['file']}: {_short(f['before'])} → {_short(f['after'])}"
                            for f in c["files"]) or "no file digest changed")
                 for c in data["rules_changed"]]
    return section(
        "rules", "5. Rule-set changes",
        note("Each load of the rules, in time order across logs, with the files whose "
             "SHA-256 changed since the previous load."),
        chart,
        table(["time", "log", "rules version", "files", "changes since the previous load"],
              shown, [3], empty="no rules.loaded records"),
        *([note(f"{hidden} loads without any change are not listed.")] if hidden else []),
        "<h3>Starts on changed rules</h3>",
        note("Each rules.changed record: a pipeline started on rules other than those its "
             "store last ran, with the digests of the files that changed."),
        table(["time", "log", "rules version", "files changed"], announced,
              empty="no rules.changed records"),
        table(["rules version", "loads", "decisions"],
              [(v, n["loads"], n["decisions"]) for v, n in versions.items()], (1, 2)),
        *([f'<p class="warn">Decisions under rules versions never loaded in these logs: '
           f'{esc(", ".join(unannounced))}</p>'] if unannounced else []),
    )


def _reconsent(report: Mapping[str, Any]) -> str:
    data = report["reconsent"]
    chart = bar_chart("chart-reconsent", "Re-consent due, by reason",
                      list(data["by_reason"].items()), x_label="re-consent notices")
    absent = ("" if data["present"] else
              note("No consent.reconsent_due records in these logs, so 0 subjects are shown; "
                   "logs written before re-consent tracking have none."))
    return section(
        "reconsent", "6. Subjects due for re-consent",
        f"<p>{number(data['subjects'])} distinct subjects are due for re-consent "
        f"({number(data['records'])} notices).</p>", absent, chart,
        table(["reason", "notices"], list(data["by_reason"].items()), [1]),
    )


def _errors(report: Mapping[str, Any]) -> str:
    data = report["errors"]
    chart = bar_chart("chart-plugin-errors", "Plugin errors by plugin and hook",
                      [(f"{r['plugin']} · {r['hook']}", r["count"]) for r in data["by_plugin"]],
                      x_label="events dropped by the failure", color="#e7298a")
    repairs = [(when(r["ts"]), r["log"], r["segment"], r["truncated_bytes"])
               for r in data["repair_list"]]
    return section(
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
    return section(
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
    return section(
        "other", "9. Lifecycle and other records",
        chart,
        table(["lifecycle", "count"], lifecycle, [1]),
        table(["key rotation time", "log"],
              [(when(r["ts"]), r["log"]) for r in data["keys_rotated"]], empty="no key rotations"),
        "<h3>Record kinds this report does not interpret</h3>",
        table(["kind", "records"], list(data["unknown_kinds"].items()), [1],
              empty="none: every record kind was interpreted"),
    )

def _experiments(report: Mapping[str, Any]) -> str:
    data = report.get("experiments") or {}
    rows = [(name, arm, counts["assigned"], counts["exposed"], counts["converted"],
             counts["revenue"])
            for name, experiment in data.items() for arm, counts in experiment["arms"].items()]
    return section(
        "experiments", "10. Experiments",
        "<p>Subjects assigned, exposed (for the holdout: the send withheld) and converting, "
        "per experiment and arm, counted from the audit log. The statistics are in "
        "<code>cdp-plugin experiments report</code>.</p>",
        table(["experiment", "arm", "assigned", "exposed", "converted", "revenue"], rows,
              (2, 3, 4, 5), empty="no experiment records"),
    )


_SECTIONS: tuple[Callable[[Mapping[str, Any]], str], ...] = (
    _header, _summary, _decisions, _rejections, _consent, _segments, _rules, _reconsent,
    _errors, _minimization, _other, _experiments)


def render_sections(report: Mapping[str, Any]) -> list[str]:
    """Every section of the page for ``report``, in page order."""
    return [render(report) for render in _SECTIONS]
