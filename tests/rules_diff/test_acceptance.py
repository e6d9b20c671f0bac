"""The product's acceptance criterion for rule dry-runs, on the demo stream.

One minimization field changed from ``drop`` to ``keep`` in a copy of the
rules is reported as exactly that field, for exactly the destinations and
the events it affects, counted here independently from an ordinary pipeline
run on the old rules; identical rules report nothing; a segment rule change
reports segment sizes and no field; a bad rules directory exits 2 naming
file and key.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.cli import main
from cdp_plugin.rules_diff import RulesDiff, diff_rules
from cdp_plugin.rules_diff.rendering import render_text
from tests.conftest import RULES_DIR
from tests.rules_diff.conftest import EditRules, demo_messages

PHONE_RULE = "traits.phone: {action: keep, pii_scan: 0}"


def _sections(diff: RulesDiff) -> dict[str, Any]:
    data = diff.as_dict()
    return {name: data[name]["changes"] for name in data["sections"]}


def test_a_destination_field_from_drop_to_keep_is_reported_alone_and_counted_exactly(
        demo_events: Path, edited_rules: EditRules, plain_outcomes: Any) -> None:
    # The old rules drop the phone number the SMS gateway's own rule keeps today;
    # the new ones are the shipped rules, which keep it.
    old = edited_rules("old", "minimization.yaml", PHONE_RULE, "traits.phone: drop")
    diff = diff_rules(old, RULES_DIR, demo_events)
    changes = _sections(diff)

    # Counted independently: demo events carrying the field that the old rules
    # forward to that destination.
    messages = demo_messages(demo_events)
    expected = sum(
        1 for message, outcome in zip(messages, plain_outcomes(old, demo_events), strict=True)
        if outcome.forwarded and "sms_gateway" in outcome.destinations
        and isinstance(message.get("traits"), dict) and message["traits"].get("phone"))
    assert expected >= 10  # the stream exercises the change

    fields = changes["fields"]
    assert {(c["destination"], c["field"], c["change"]) for c in fields} == {
        ("sms_gateway", "traits.phone", "now_sent")}
    [change] = fields
    assert change["events"] == expected
    assert change["before"] == {"drop": expected} and change["after"] == {"keep": expected}
    assert change["purposes"] == ["marketing"]
    assert changes["status"] == [] and changes["destinations"] == []
    assert changes["segments"] == []
    assert diff.differences == 1


def test_a_shared_field_from_drop_to_keep_reaches_every_destination_of_the_shared_payload(
        demo_events: Path, edited_rules: EditRules, plain_outcomes: Any) -> None:
    # properties.link_url is named by a rule without destinations: every destination
    # without a payload of its own receives the shared one, so each is listed.
    new = edited_rules("new", "minimization.yaml", "properties.link_url: drop",
                       "properties.link_url: keep")
    diff = diff_rules(RULES_DIR, new, demo_events)
    expected: Counter[str] = Counter()
    for message, outcome in zip(demo_messages(demo_events),
                                plain_outcomes(RULES_DIR, demo_events), strict=True):
        properties = message.get("properties")
        if (outcome.forwarded and "marketing" in outcome.purposes
                and isinstance(properties, dict) and properties.get("link_url")):
            expected.update(d for d in outcome.destinations if d not in outcome.deliveries)
    assert len(expected) >= 2 and min(expected.values()) >= 5

    fields = _sections(diff)["fields"]
    assert {(c["destination"], c["field"], c["change"]) for c in fields} == {
        (destination, "properties.link_url", "now_sent") for destination in expected}
    assert {c["destination"]: c["events"] for c in fields} == dict(expected)
    assert all(c["before"] == {"drop": c["events"]} for c in fields)


def test_identical_rules_report_no_difference_at_all(
        demo_events: Path, tmp_path: Path) -> None:
    copy = tmp_path / "same"
    shutil.copytree(RULES_DIR, copy)
    # Odd lines replay alike too: a malformed line, and a batch envelope whose
    # messages are normalized once for both sides.
    events = tmp_path / "events.jsonl"
    events.write_bytes(demo_events.read_bytes() + b"{not json\n\n" +
                       b'{"batch": [{"type": "track", "event": "Page Viewed", "userId": "u-9",'
                       b' "properties": {"path": "/"}}], "sentAt": "2026-10-30T18:00:00Z"}\n')
    diff = diff_rules(RULES_DIR, copy, events)
    assert diff.differences == 0
    assert all(changes == [] for changes in _sections(diff).values())
    assert diff.messages == len(demo_messages(demo_events)) + 2
    assert "No differences" in render_text(diff)


def test_a_segment_rule_change_reports_segment_sizes_and_no_field(
        demo_events: Path, edited_rules: EditRules) -> None:
    new = edited_rules("new", "segments.yaml", 'when: "purchase_count >= 2"',
                       'when: "purchase_count >= 1"')
    changes = _sections(diff_rules(RULES_DIR, new, demo_events))
    [repeat] = [c for c in changes["segments"] if c["segment"] == "repeat_buyer"]
    assert repeat["new_size"] > repeat["old_size"]
    assert repeat["joined"] == repeat["new_size"] - repeat["old_size"] and repeat["left"] == 0
    assert repeat["new_entered"] > repeat["old_entered"]
    assert changes["fields"] == [] and changes["status"] == []
    assert changes["destinations"] == []


def test_a_bad_rules_directory_exits_2_naming_file_and_key_as_rules_check_does(
        demo_events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(RULES_DIR, broken)
    with (broken / "segments.yaml").open("a", encoding="utf-8") as handle:
        handle.write("surprise: true\n")
    assert main(["rules", "check", str(broken)]) == 1
    checked = capsys.readouterr().err.splitlines()
    assert main(["rules", "diff", str(RULES_DIR), str(broken), str(demo_events)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[:-1] == checked[:-1]  # the same problem lines, file:line: key: message
    assert any(str(broken / "segments.yaml") in line and "surprise" in line for line in err)
    assert main(["rules", "diff", str(tmp_path / "missing"), str(RULES_DIR),
                 str(demo_events)]) == 2
    assert "missing" in capsys.readouterr().err


def test_an_eligibility_change_reports_the_experiment_and_nothing_else(
        demo_events: Path, edited_rules: EditRules, plain_outcomes: Any) -> None:
    # The new rules admit only repeat buyers to the timing experiment.
    new = edited_rules("new", "experiments.yaml", "    holdout: 0.1\n",
                       "    holdout: 0.1\n    eligibility: {segment: repeat_buyer}\n")
    diff = diff_rules(RULES_DIR, new, demo_events)
    changes = _sections(diff)
    # Counted independently: repeat buyers at the end of an ordinary run, from its moves.
    members: dict[str, bool] = {}
    for outcome in plain_outcomes(RULES_DIR, demo_events):
        for change in outcome.segment_changes:
            if change.segment == "repeat_buyer":
                members[change.subject_key] = change.entered
    repeat_buyers = sum(members.values())
    assert repeat_buyers >= 1

    [row] = changes["experiments"]
    assert row["experiment"] == "replenishment_timing" and row["change"] == "eligibility"
    assert row["new_eligible"] == repeat_buyers
    assert row["old_eligible"] > repeat_buyers  # no eligibility rule: every profile
    assert row["left"] == row["old_eligible"] - repeat_buyers and row["joined"] == 0
    assert all(changes[name] == [] for name in ("status", "destinations", "fields",
                                                "segments"))
