"""Comparers, field views and rendering, on outcomes built or replayed here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules_diff import DIFF_FORMAT, RulesDiff, diff_rules
from cdp_plugin.rules_diff.comparers import (
    COMPARERS,
    Column,
    Finding,
    ReplayStart,
    SegmentsComparer,
)
from cdp_plugin.rules_diff.fields import field_view, state_of
from cdp_plugin.rules_diff.rendering import render_html, render_json, render_text
from cdp_plugin.rules_diff.replay import ReplayedEvent, ReplayEnd
from cdp_plugin.types import Outcome, Status
from tests.conftest import RULES_DIR
from tests.rules_diff.conftest import demo_messages


def _forwarded(**fields: Any) -> Outcome:
    return Outcome(Status.FORWARDED, "m-1", (), **fields)


def test_a_destination_sees_its_own_payload_and_the_others_the_shared_one() -> None:
    outcome = _forwarded(
        event={"userId": "h1:k:x", "traits": {"first_name": "A"}},
        deliveries={"esp": {"userId": "h1:k:x", "traits": {"first_name": "A", "email": "e"}}},
        minimization={"hash": ["userId", "esp:userId"],
                      "drop": ["traits.email", "traits.tags", "esp:traits.tags"]},
        destinations=frozenset({"esp", "warehouse"}))
    assert field_view(outcome, "warehouse") == {
        "userId": "hash", "traits.first_name": "keep", "traits.email": "drop",
        "traits.tags": "drop"}
    assert field_view(outcome, "esp") == {
        "userId": "hash", "traits.first_name": "keep", "traits.email": "keep",
        "traits.tags": "drop"}
    assert field_view(Outcome(Status.DROPPED, "m-1"), "esp") == {}


def test_list_items_and_actions_above_a_leaf_are_named_by_path() -> None:
    outcome = _forwarded(event={"context": {"location": {"country": "GB"}},
                                "properties": {"products": [{"id": 1}, {"id": 2}]}},
                         minimization={"generalize": ["context.location"],
                                       "drop": ["properties.products.*.name"]})
    view = field_view(outcome, "warehouse")
    assert view == {"context.location.country": "generalize", "properties.products.*.id": "keep",
                    "properties.products.*.name": "drop"}
    assert state_of(view, "context.location.country") == "generalize"
    assert state_of(view, "properties.products.*.name.first") == "drop"  # under a drop
    assert state_of(view, "traits.email") == "absent"


def test_map_keys_holding_personal_data_are_reported_as_the_guards_marker() -> None:
    outcome = _forwarded(event={"properties": {"ada@example.com": 1}})
    [path] = field_view(outcome, "warehouse")
    assert "ada@example.com" not in path and path.startswith("properties.[REDACTED")


def test_segment_moves_fold_into_the_sizes_the_store_counts(
        demo_events: Path, tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", audit_dir=tmp_path / "audits",
                    rules_dir=RULES_DIR, load_entrypoints=False, audit_fsync=False)
    with Pipeline.from_config(config, env={}) as pipeline:
        rules = pipeline.runtime.rules
        comparer = SegmentsComparer(ReplayStart(rules, rules))
        for number, message in enumerate(demo_messages(demo_events), start=1):
            outcome = pipeline.process(message)
            comparer.add(ReplayedEvent(number, None, outcome, outcome))
        stored = {name: size for name, size in pipeline.runtime.store.segment_sizes().items()
                  if size}
    old, new = comparer.sizes()
    assert old == new
    assert {name: size for name, size in old.items() if size} == stored
    assert len(stored) >= 3


@dataclass(frozen=True, slots=True)
class _Counted:
    """A further comparer, added beside the shipped ones."""

    name = "further"

    def add(self, event: ReplayedEvent) -> None:
        pass

    def finish(self, end: ReplayEnd) -> Finding:
        return Finding(self.name, "Experiment <eligibility>", "A section & its table.",
                       ({"experiment": "<script>x</script>", "events": end.messages},),
                       {"experiments": 1},
                       (Column("experiment", "experiment"), Column("events", "events", True)))


def _with_extra(start: ReplayStart) -> _Counted:
    return _Counted()


def test_a_further_comparer_gets_its_own_section_everywhere(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "track"}\n', "utf-8")
    diff = diff_rules(RULES_DIR, RULES_DIR, events, comparers=(*COMPARERS, _with_extra))
    data = json.loads(render_json(diff))
    assert data["sections"] == ["status", "destinations", "fields", "segments", "experiments",
                                "further"]
    assert data["further"]["changes"] == [{"experiment": "<script>x</script>", "events": 1}]
    assert "Experiment <eligibility>: 1 change(s), 1 experiments" in render_text(diff)
    page = render_html(diff)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script" not in page
    assert "Experiment &lt;eligibility&gt;" in page and "A section &amp; its table." in page


def test_the_json_structure_is_stable(tmp_path: Path) -> None:
    finding = Finding("status", "Status changes", "d", (
        {"old_status": "quarantined", "new_status": "forwarded",
         "old_reasons": ["consent.unknown"], "new_reasons": [], "events": 2,
         "examples": [{"message": "m_1", "line": 3}]},), {"events": 2},
        (Column("old status", "old_status"), Column("events", "events", True),
         Column("examples", "examples")))
    diff = RulesDiff("a", "v1", "b", "v2", "e.jsonl", 4, 4, None, (finding,))
    assert diff.as_dict() == {
        "format": DIFF_FORMAT,
        "old_rules": {"directory": "a", "version": "v1"},
        "new_rules": {"directory": "b", "version": "v2"},
        "events": {"file": "e.jsonl", "lines": 4, "messages": 4, "replayed_until": None},
        "differences": 1, "sections": ["status"],
        "status": {"title": "Status changes", "description": "d", "totals": {"events": 2},
                   "changes": [dict(finding.changes[0])]},
    }
    text = render_text(diff).splitlines()
    header, row = text[-2], text[-1]
    assert header.index("events") + len("events") == row.index("2") + 1  # right-aligned
    assert row.endswith("lines 3")
    assert "line 3 (m_1)" in render_html(diff)
