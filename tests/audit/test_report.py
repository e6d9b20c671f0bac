"""The governance report: exact aggregates from known logs, JSON and HTML output, the CLI."""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit.charts import bar_chart, line_chart, nice_ticks, share_bars, stacked_bars
from cdp_plugin.audit.html import render_html
from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import NoteSigner, NoteVerifier, generate_signer_key
from cdp_plugin.audit.report import build_report, report_json
from cdp_plugin.cli.audit_report import register_report
from cdp_plugin.errors import ConfigError

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
CHARTS = 15
SECTION_HEADINGS = (
    "Scope", "Summary", "1. Decisions over time",
    "2. Drops, quarantines, invalid events and duplicates",
    "3. Consent rates by purpose and jurisdiction", "4. Segment sizes and drift",
    "5. Rule-set changes", "6. Subjects due for re-consent", "7. Errors and audit log repairs",
    "8. Minimization", "9. Lifecycle and other records", "10. Experiments",
)
FILES_V1 = {"a.yaml": "1" * 64, "b.yaml": "2" * 64}
FILES_V2 = {"a.yaml": "1" * 64, "b.yaml": "4" * 64, "c.yaml": "3" * 64}
# Identifiers the records carry and the report must never show.
SECRETS = ("s_secretsubject", "msg-secret")


@dataclass(frozen=True)
class Keys:
    a: NoteSigner
    b: NoteSigner


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(NoteSigner(generate_signer_key("audit-w0")),
                NoteSigner(generate_signer_key("audit-w1")))


_counter = iter(range(1, 1_000_000))


def decision(ts: str, action: Any, jurisdiction: Any, consent: dict[str, Any],
             **extra: Any) -> dict[str, Any]:
    """An event.decision record; action and jurisdiction may be odd on purpose."""
    n = next(_counter)
    record: dict[str, Any] = {"kind": "event.decision", "ts": ts, "message_id": f"msg-secret-{n}",
              "subject": f"s_secretsubject{n}", "type": "track", "event": "Order Completed",
              "action": action, "reasons": [], "purposes": [], "consent": consent,
              "jurisdiction": jurisdiction, "rules_version": "v1", "minimization": {},
              "segments": []}
    record.update(extra)
    return record


LOG_A: list[dict[str, Any]] = [
    {"kind": "rules.loaded", "ts": "2024-05-01T09:00:00.000000Z", "rules_version": "v1",
     "files": FILES_V1, "plugins": ["p1", "p2"]},
    decision("2024-05-01T10:00:00.000000Z", "allow", "EU",
             {"analytics": "granted", "marketing": "denied"}, reasons=["consent.granted"],
             purposes=["analytics"],
             minimization={"drop": ["properties.email"], "hash": ["userId"]},
             segments=[{"segment": "buyers", "entered": True, "active": True}]),
    decision("2024-05-01T11:00:00.000000Z", "drop", "EU", {"analytics": "denied"},
             reasons=["consent.denied"]),
    decision("2024-05-01T12:00:00.000000Z", "quarantine", "UK", {},
             reasons=["consent.unknown"]),
    {"kind": "event.invalid", "ts": "2024-05-01T13:00:00.000000Z", "message_id": None,
     "problems": {"event": "required", "timestamp": "must be an ISO-8601 timestamp"}},
    {"kind": "event.invalid", "ts": "2024-05-01T13:30:00.000000Z",
     "message_id": "msg-secret-x", "problems": {"event": "required"}},
    {"kind": "event.duplicate", "ts": "2024-05-01T14:00:00.000000Z",
     "message_id": "msg-secret-1", "subject": "s_secretsubject1"},
    decision("2024-05-03T09:00:00.000000Z", "allow", "UK", {"analytics": "granted"},
             purposes=["analytics"],
             minimization={"drop": ["properties.email", "context.ip"]},
             segments=[{"segment": "buyers", "entered": False, "active": True},
                       {"segment": "vip", "entered": True, "active": False}]),
    decision("2024-05-03T10:00:00.000000Z", "drop", "US-CA", {"marketing": "unknown"},
             reasons=[SCRIPT, "quarantine.full"]),
    {"kind": "plugin.error", "ts": "2024-05-03T11:00:00.000000Z", "message_id": "msg-secret-y",
     "subject": "s_secretsubjecty", "plugin": "acme", "hook": "cdp_decide",
     "error_type": "ValueError"},
    {"kind": "consent.recorded", "ts": "2024-05-03T12:00:00.000000Z",
     "subject": "s_secretsubjectz", "source": "preference_center",
     "captured_at": "2024-05-03T11:59:00+00:00", "notice_version": "2024-01",
     "purposes": {"marketing": False}, "channels": {},
     "changes": [{"purpose": "marketing", "previous": "granted", "current": "denied"}]},
    {"kind": "rules.loaded", "ts": "2024-05-05T07:00:00.000000Z", "rules_version": "v2",
     "files": FILES_V2, "plugins": ["p1"]},
    decision("2024-05-05T08:00:00.000000Z", "drop", None, {}, reasons=["consent.denied"],
             rules_version="v2"),
    {"kind": "consent.reconsent_due", "ts": "2024-05-05T09:00:00.000000Z",
     "subject": "s_secretsubjectr1", "reasons": ["superseded_notice"],
     "items": ["purpose:analytics"]},
    {"kind": "consent.reconsent_due", "ts": "2024-05-05T09:01:00.000000Z",
     "subject": "s_secretsubjectr1", "reasons": ["superseded_notice"],
     "items": ["purpose:marketing"]},
    {"kind": "consent.reconsent_due", "ts": "2024-05-05T09:02:00.000000Z",
     "subject": "s_secretsubjectr2", "reasons": ["expired"], "items": ["channel:email"]},
    {"kind": "audit.repair", "ts": "2024-05-05T10:00:00.000000Z", "truncated_bytes": 57,
     "segment": "segment-000000.jsonl"},
    {"kind": "quarantine.purged", "ts": "2024-05-05T11:00:00.000000Z",
     "message_id": "msg-secret-p", "subject": "s_secretsubjectp",
     "reasons": ["quarantine.expired"]},
    {"kind": "keys.rotated", "ts": "2024-05-05T12:00:00.000000Z"},
    {"kind": "custom.thing", "ts": "2024-05-05T13:00:00.000000Z", "detail": "x"},
]

LOG_B: list[dict[str, Any]] = [
    {"kind": "rules.loaded", "ts": "2024-05-02T09:00:00.000000Z", "rules_version": "v1",
     "files": FILES_V1, "plugins": ["p1", "p2"]},
    decision("2024-05-02T10:00:00.000000Z", "allow", "EU",
             {"analytics": "granted", "marketing": "granted"},
             purposes=["analytics", "marketing"], minimization={"hash": ["userId"]},
             segments=[{"segment": "buyers", "entered": True, "active": True}]),
    decision("2024-05-02T11:00:00.000000Z", "quarantine", "EU", {"analytics": "granted"},
             reasons=["consent.unknown"]),
]


def write_log(root: Path, origin: str, signer: NoteSigner,
              records: list[dict[str, Any]]) -> Path:
    with AuditLog(root, origin, signer, fsync=False, checkpoint_interval=3600.0,
                  checkpoint_every=4, segment_max_records=7) as log:
        for record in records:
            log.append(record)
        return log.directory


def write_logs(root: Path, keys: Keys) -> Path:
    """Two logs, by two writers with their own keys, spanning 2024-05-01 to 2024-05-05."""
    write_log(root, "cdp-plugin/w0", keys.a, LOG_A)
    write_log(root, "cdp-plugin/w1", keys.b, LOG_B)
    return root


@pytest.fixture
def audits(tmp_path: Path, keys: Keys) -> Path:
    return write_logs(tmp_path / "audits", keys)


@pytest.fixture
def report(audits: Path) -> dict[str, Any]:
    return build_report(audits, now=NOW)


# --- aggregation ------------------------------------------------------------------------


def test_scope_lists_each_log_with_origin_count_and_unverified_status(
        report: dict[str, Any]) -> None:
    scope = report["scope"]
    assert [(log["name"], log["origin"], log["records"]) for log in scope["logs"]] == [
        ("cdp-plugin_w0", "cdp-plugin/w0", len(LOG_A)),
        ("cdp-plugin_w1", "cdp-plugin/w1", len(LOG_B)),
    ]
    assert scope["records"] == len(LOG_A) + len(LOG_B)
    assert [log["segments"] for log in scope["logs"]] == [3, 1]  # 20 records, 7 a segment
    assert {log["verification"]["status"] for log in scope["logs"]} == {"not verified"}
    assert scope["verification"]["status"] == "not verified"
    assert (scope["first_ts"], scope["last_ts"]) == ("2024-05-01T09:00:00.000000Z",
                                                     "2024-05-05T13:00:00.000000Z")
    assert report["generated_at"] == "2024-06-01T12:00:00Z"


def test_decisions_per_day_and_action(report: dict[str, Any]) -> None:
    decisions = report["decisions"]
    assert decisions["unit"] == "day"
    assert [(r["bucket"], r["allow"], r["drop"], r["quarantine"])
            for r in decisions["series"]] == [
        ("2024-05-01", 1, 1, 1), ("2024-05-02", 1, 0, 1), ("2024-05-03", 1, 1, 0),
        ("2024-05-04", 0, 0, 0), ("2024-05-05", 0, 1, 0),
    ]
    assert decisions["by_action"] == {"allow": 3, "drop": 3, "quarantine": 2}
    assert decisions["total"] == 8
    assert decisions["share"]["allow"] == 0.375


def test_a_span_under_three_days_is_bucketed_per_hour(tmp_path: Path, keys: Keys) -> None:
    write_log(tmp_path, "hourly", keys.a, [
        decision("2024-05-01T10:15:00.000000Z", "allow", "EU", {}),
        decision("2024-05-01T10:45:00.000000Z", "drop", "EU", {}),
        decision("2024-05-01T12:05:00.000000Z", "allow", "EU", {}),
    ])
    decisions = build_report(tmp_path)["decisions"]
    assert decisions["unit"] == "hour"
    assert [(r["bucket"], r["allow"], r["drop"]) for r in decisions["series"]] == [
        ("2024-05-01T10:00Z", 1, 1), ("2024-05-01T11:00Z", 0, 0), ("2024-05-01T12:00Z", 1, 0)]


def test_rejections_count_reasons_invalid_fields_and_duplicates(report: dict[str, Any]) -> None:
    rejections = report["rejections"]
    assert rejections["reasons"] == {
        "drop": {"consent.denied": 2, SCRIPT: 1, "quarantine.full": 1},
        "quarantine": {"consent.unknown": 2},
    }
    invalid = rejections["invalid"]
    assert invalid["events"] == 2
    assert invalid["without_message_id"] == 1
    assert invalid["by_field"] == {"event": 2, "timestamp": 1}
    assert rejections["duplicates"] == 1


def test_consent_rates_per_purpose_overall_and_per_jurisdiction(report: dict[str, Any]) -> None:
    consent = report["consent"]
    assert consent["decisions"] == 8
    assert consent["purposes"] == ["analytics", "marketing"]
    analytics = consent["overall"]["analytics"]
    assert (analytics["granted"], analytics["denied"], analytics["unknown"]) == (4, 1, 3)
    assert (analytics["granted_share"], analytics["denied_share"],
            analytics["unknown_share"]) == (0.5, 0.125, 0.375)
    marketing = consent["overall"]["marketing"]
    # "unknown" given explicitly and a purpose absent from the record both count as unknown.
    assert (marketing["granted"], marketing["denied"], marketing["unknown"]) == (1, 1, 6)
    by_jurisdiction = consent["by_jurisdiction"]
    assert list(by_jurisdiction) == ["EU", "UK", "(none)", "US-CA"]
    assert {j: v["decisions"] for j, v in by_jurisdiction.items()} == {
        "EU": 4, "UK": 2, "(none)": 1, "US-CA": 1}
    eu = by_jurisdiction["EU"]["purposes"]
    assert (eu["analytics"]["granted_share"], eu["analytics"]["denied_share"],
            eu["analytics"]["unknown_share"]) == (0.75, 0.25, 0.0)
    assert (eu["marketing"]["granted"], eu["marketing"]["denied"],
            eu["marketing"]["unknown"]) == (1, 1, 2)
    uk = by_jurisdiction["UK"]["purposes"]["analytics"]
    assert (uk["granted"], uk["unknown"]) == (1, 1)
    assert consent["purposes_used"] == {"analytics": 3, "marketing": 1}
    assert consent["updates"]["changes"] == [
        {"purpose": "marketing", "previous": "granted", "current": "denied", "count": 1}]


def test_segment_sizes_start_at_zero_and_follow_entries_and_exits(
        report: dict[str, Any]) -> None:
    segments = report["segments"]
    assert segments["names"] == ["buyers", "vip"]
    assert [p["size"] for p in segments["series"]["buyers"]] == [1, 2, 1, 1, 1]
    assert [p["size"] for p in segments["series"]["vip"]] == [0, 0, 1, 1, 1]
    assert [(p["entries"], p["exits"]) for p in segments["series"]["buyers"]] == [
        (1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    buyers, vip = segments["per_segment"]["buyers"], segments["per_segment"]["vip"]
    assert (buyers["entries"], buyers["exits"], buyers["net"], buyers["peak"],
            buyers["churn"], buyers["mode"]) == (2, 1, 1, 2, 0.5, "active")
    assert (vip["net"], vip["shadow_changes"], vip["active_changes"], vip["mode"]) == (
        1, 1, 0, "shadow")


def test_rules_drift_names_the_changed_file_across_logs(report: dict[str, Any]) -> None:
    rules = report["rules"]
    loads = rules["loads"]
    assert [(load["ts"][:10], load["log"], load["rules_version"]) for load in loads] == [
        ("2024-05-01", "cdp-plugin_w0", "v1"), ("2024-05-02", "cdp-plugin_w1", "v1"),
        ("2024-05-05", "cdp-plugin_w0", "v2")]
    assert loads[0]["first"] and loads[0]["changed"] == []
    assert loads[1]["changed"] == [] and not loads[1]["version_changed"]
    assert loads[2]["changed"] == [
        {"file": "b.yaml", "before": "2" * 64, "after": "4" * 64},
        {"file": "c.yaml", "before": None, "after": "3" * 64},
    ]
    assert loads[2]["plugins_removed"] == ["p2"] and loads[2]["version_changed"]
    assert rules["changes"] == 1
    assert rules["by_version"] == {"v1": {"loads": 2, "decisions": 7},
                                   "v2": {"loads": 1, "decisions": 1}}


def test_reconsent_errors_minimization_and_other_records(report: dict[str, Any]) -> None:
    assert report["reconsent"] == {"present": True, "records": 3, "subjects": 2,
                                   "by_reason": {"superseded_notice": 2, "expired": 1}}
    errors = report["errors"]
    assert errors["by_plugin"] == [{"plugin": "acme", "hook": "cdp_decide", "count": 1}]
    assert errors["by_error_type"] == {"ValueError": 1}
    assert errors["repair_list"] == [{"ts": "2024-05-05T10:00:00.000000Z",
                                      "log": "cdp-plugin_w0",
                                      "segment": "segment-000000.jsonl",
                                      "truncated_bytes": 57}]
    minimization = report["minimization"]
    assert minimization["decisions"] == 3
    assert minimization["by_action"] == {"drop": {"decisions": 2, "fields": 3},
                                         "hash": {"decisions": 2, "fields": 2}}
    assert minimization["top_paths"]["drop"] == [{"path": "properties.email", "count": 2},
                                                 {"path": "context.ip", "count": 1}]
    other = report["other"]
    assert other["unknown_kinds"] == {"custom.thing": 1}
    assert other["unknown_records"] == 1
    assert other["quarantine_purged"] == {"quarantine.expired": 1}
    assert len(other["keys_rotated"]) == 1
    summary = report["summary"]
    assert (summary["decisions"], summary["invalid"], summary["duplicates"],
            summary["plugin_errors"], summary["audit_repairs"],
            summary["reconsent_subjects"]) == (8, 2, 1, 1, 1, 2)


def test_without_reconsent_records_the_count_is_zero(tmp_path: Path, keys: Keys) -> None:
    write_log(tmp_path, "plain", keys.a, LOG_B)
    assert build_report(tmp_path)["reconsent"] == {
        "present": False, "records": 0, "subjects": 0, "by_reason": {}}


def test_odd_record_content_is_counted_not_fatal(tmp_path: Path, keys: Keys) -> None:
    log_dir = write_log(tmp_path, "odd", keys.a, [
        decision("2024-05-01T10:00:00.000000Z", ["not", "a", "code"], {"x": 1},
                 {"analytics": ["granted"]}, reasons="consent.denied", segments=[1, {}]),
        {"kind": "event.decision", "ts": "not a time"},
    ])
    segment = log_dir / "segment-000000.jsonl"
    with segment.open("ab") as stream:
        stream.write(b'{"kind": "torn"')  # a crash mid-write, before any repair
    report = build_report(tmp_path)
    assert report["decisions"]["by_action"] == {"allow": 0, "drop": 0, "quarantine": 0,
                                                "(none)": 2}
    assert report["consent"]["overall"]["analytics"]["unknown"] == 2
    assert report["scope"]["untimed_records"] == 1
    assert report["scope"]["logs"][0]["unreadable_lines"] == 1


# --- verification ---------------------------------------------------------------------


def test_each_log_verifies_with_its_own_key(audits: Path, keys: Keys) -> None:
    verifiers = [NoteVerifier(keys.a.verifier_key), NoteVerifier(keys.b.verifier_key)]
    scope = build_report(audits, verifiers)["scope"]
    assert [log["verification"]["status"] for log in scope["logs"]] == ["verified"] * 2
    assert [log["verification"]["key"] for log in scope["logs"]] == ["audit-w0", "audit-w1"]
    assert scope["verification"]["status"] == "verified"


def test_a_log_the_keys_do_not_verify_is_reported_as_failed(audits: Path, keys: Keys) -> None:
    scope = build_report(audits, [NoteVerifier(keys.a.verifier_key)])["scope"]
    assert [log["verification"]["status"] for log in scope["logs"]] == ["verified", "failed"]
    assert "no signature by key 'audit-w0'" in scope["logs"][1]["verification"]["detail"]
    assert scope["verification"]["status"] == "failed"


def test_a_tampered_record_fails_verification_but_is_still_reported(
        audits: Path, keys: Keys) -> None:
    segment = audits / "cdp-plugin_w1" / "segment-000000.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b'"quarantine"', b'"allow"', 1))
    report = build_report(audits, [NoteVerifier(keys.a.verifier_key),
                                   NoteVerifier(keys.b.verifier_key)])
    failed = report["scope"]["logs"][1]["verification"]
    assert failed["status"] == "failed"
    assert "was altered" in failed["detail"]
    assert report["decisions"]["by_action"]["allow"] == 4


def test_a_directory_without_logs_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no audit log"):
        build_report(tmp_path)
    with pytest.raises(ConfigError, match="is not a directory"):
        build_report(tmp_path / "missing")


def test_one_log_directory_can_be_reported_on_its_own(audits: Path) -> None:
    scope = build_report(audits / "cdp-plugin_w1")["scope"]
    assert [log["name"] for log in scope["logs"]] == ["cdp-plugin_w1"]


# --- JSON and HTML output -------------------------------------------------------------

_SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def test_json_output_round_trips_and_holds_no_identifiers(report: dict[str, Any]) -> None:
    text = report_json(report)
    assert json.loads(text) == report
    for secret in SECRETS:
        assert secret not in text


def test_html_is_self_contained(report: dict[str, Any]) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    for attribute in re.findall(r'\b(?:src|href)\s*=\s*["\']?([^"\'\s>]*)', page, re.I):
        pytest.fail(f"the page references {attribute!r}")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<script\b", page, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page
    for secret in SECRETS:
        assert secret not in page


def test_every_chart_is_valid_labelled_svg(report: dict[str, Any]) -> None:
    page = render_html(report)
    charts = _SVG.findall(page)
    assert len(charts) == CHARTS
    for chart in charts:
        element = ET.fromstring(chart)
        assert element.get("class") == "chart"
        assert element.get("role") == "img"
        labelled = element.get("aria-labelledby", "").split()
        titles = [child for child in element if child.tag == "title"]
        assert titles and titles[0].text and titles[0].get("id") == labelled[0]
        assert element.find("desc") is not None


def test_html_shows_the_numbers_and_every_section(report: dict[str, Any]) -> None:
    page = render_html(report)
    for heading in SECTION_HEADINGS:
        assert f"<h2>{heading}</h2>" in page
    assert "2024-05-01 09:00:00Z to 2024-05-05 13:00:00Z" in page
    assert "b.yaml: 222222222222 → 444444444444" in page
    assert "c.yaml: absent → 333333333333" in page
    assert "version v1 → v2" in page
    assert "<td>2024-05-03</td><td class=\"n\">1 (+0 −1)</td><td class=\"n\">1 (+1 −0)</td>" in page
    assert "not verified" in page


def test_record_values_are_escaped(report: dict[str, Any]) -> None:
    page = render_html(report)
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Inside the SVG too: the drop-reasons chart labels the bar with the escaped reason.
    drop_chart = next(c for c in _SVG.findall(page) if 'id="chart-drop-reasons"' in c)
    labels = [t.text for t in ET.fromstring(drop_chart).iter("text")]
    assert SCRIPT in labels


def test_charts_survive_control_characters_and_empty_data() -> None:
    hostile = "bad\x00\x1b\ud800 <&>\"'"
    charts = [
        bar_chart("b", hostile, [(hostile, 3)], x_label=hostile),
        bar_chart("e", "empty", [], x_label="none"),
        stacked_bars("s", hostile, [hostile], [(hostile, [2])], x_label="x", y_label="y"),
        stacked_bars("s0", "empty", [], [], x_label="x", y_label="y"),
        line_chart("l", hostile, ["a", "b"], [(hostile, [3, -2])], x_label="x", y_label="y"),
        line_chart("l0", "empty", [], [], x_label="x", y_label="y"),
        share_bars("h", hostile, [(hostile, [1, 0, 3])], ["granted", "denied", "unknown"],
                   x_label="share"),
    ]
    for chart in charts:
        element = ET.fromstring(chart)
        assert element.get("class") == "chart"
    assert "no data" in charts[1] and "no data" in charts[3]


def test_nice_ticks_cover_the_maximum_with_round_steps() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(3249) == [0, 1000, 2000, 3000, 4000]
    assert nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(2) == [0, 1, 2]  # counts never get fractional ticks
    assert nice_ticks(2, whole=False) == [0, 0.5, 1.0, 1.5, 2.0]


# --- the command ------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cdp-plugin")
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit")
    register_report(audit.add_subparsers(dest="audit_command", required=True))
    args = parser.parse_args(["audit", "report", *argv])
    code: int = args.handler(args)
    return code


def test_cli_writes_html_and_json_of_the_same_report(
        audits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html_out, json_out = tmp_path / "report.html", tmp_path / "report.json"
    assert run_cli(str(audits), "--html", str(html_out), "--json", str(json_out)) == 0
    data = json.loads(json_out.read_text(encoding="utf-8"))
    expected = build_report(audits)
    data.pop("generated_at"), expected.pop("generated_at")
    assert data == expected
    assert len(_SVG.findall(html_out.read_text(encoding="utf-8"))) == CHARTS
    assert "not verified" in capsys.readouterr().out


def test_cli_verifies_with_keys_given_as_text_or_file(
        audits: Path, tmp_path: Path, keys: Keys) -> None:
    key_file = tmp_path / "audit-w1.pub"
    key_file.write_text(keys.b.verifier_key + "\n")
    out = tmp_path / "report.json"
    assert run_cli(str(audits), "--json", str(out), "--key", keys.a.verifier_key,
                   "--key", str(key_file)) == 0
    assert json.loads(out.read_text())["scope"]["verification"]["status"] == "verified"


def test_cli_exits_1_when_a_log_fails_verification_and_still_writes_the_report(
        audits: Path, tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert run_cli(str(audits), "--html", str(out), "--key", keys.a.verifier_key) == 1
    assert "failed" in out.read_text(encoding="utf-8")
    assert "cdp-plugin_w1: checkpoint 1 in checkpoints.log: note has no signature" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("argv", [
    ["{audits}"],  # no output asked for
    ["{audits}", "--html", "{out}", "--key", "not-a-key"],
    ["{audits}", "--html", "{out}", "--key", "PRIVATE+KEY+x+00000000+AAAA"],
    ["{empty}", "--html", "{out}"],
    ["{missing}", "--html", "{out}"],
])
def test_cli_exits_2_on_bad_usage_without_writing(
        argv: list[str], audits: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out.html"
    paths = {"audits": audits, "out": out, "empty": tmp_path / "empty",
             "missing": tmp_path / "missing"}
    assert run_cli(*(arg.format(**paths) for arg in argv)) == 2
    assert not out.exists()
    error = capsys.readouterr().err
    assert error.startswith("cdp-plugin audit report: ")
    assert "PRIVATE" not in error  # key text is never echoed


def test_cli_exits_1_when_the_output_cannot_be_written(audits: Path, tmp_path: Path) -> None:
    assert run_cli(str(audits), "--html", str(tmp_path / "no" / "such" / "dir.html")) == 1


def test_cli_json_to_stdout(audits: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(audits), "--json", "-") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["summary"]["decisions"] == 8
    assert "records in 2 log(s)" in captured.err


def test_cli_writes_a_lone_surrogate_escape_back_as_an_escape(tmp_path: Path) -> None:
    log_dir = tmp_path / "audits" / "hand-written"
    log_dir.mkdir(parents=True)
    (log_dir / "segment-000000.jsonl").write_text(
        '{"action":"drop","kind":"event.decision","reasons":["bad\\ud800"],"seq":0,'
        '"ts":"2024-05-01T10:00:00.000000Z"}\n', encoding="ascii")
    html_out, json_out = tmp_path / "report.html", tmp_path / "report.json"
    assert run_cli(str(tmp_path / "audits"), "--html", str(html_out),
                   "--json", str(json_out)) == 0
    assert json.loads(json_out.read_text(encoding="utf-8"))["rejections"]["reasons"] == {
        "drop": {"bad\ud800": 1}, "quarantine": {}}
    assert "bad\ufffd" in html_out.read_text(encoding="utf-8")
