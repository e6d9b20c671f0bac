"""Time-based entries and exits by tick; withdrawal ends memberships and deletes features.

The pipeline-level tests run on ``Pipeline`` once it has ``tick`` and calls
:func:`cdp_plugin.segments.on_consent_changed` in ``record_consent``; until then
on the test subclass that adds exactly that code (``tests/segments/conftest.py``),
and the ``plain_pipeline`` variant is skipped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cdp_plugin import hookimpl
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.segments import on_consent_withdrawn
from cdp_plugin.segments import tick as tick_segments
from cdp_plugin.types import ConsentUpdate, SegmentChange
from tests.conftest import MakePipeline, audit_records
from tests.events import ALL_GRANTED, track

USER = "user-alice@example.com"
GRANT_ALL = {"analytics": True, "personalization": True, "marketing": True}


class Recorder:
    def __init__(self) -> None:
        self.changes: list[SegmentChange] = []

    @hookimpl
    def cdp_segment_changed(self, change: SegmentChange) -> None:
        self.changes.append(change)


def _busy_subject(pipeline: Pipeline) -> str:
    """A subject with features for both purposes and segments needing each."""
    pipeline.record_consent(ConsentUpdate(USER, datetime(2026, 11, 1, tzinfo=UTC),
                                          "preference_center", purposes=GRANT_ALL))
    for i in range(4):
        pipeline.process(track(f"e-{i}", event="Email Opened",
                               timestamp=f"2026-11-1{i}T10:00:00Z"))
    for i in range(8):
        pipeline.process(track(f"o-{i}", revenue=20.0, timestamp=f"2026-11-2{i}T10:00:00Z"))
    pipeline.process(track("c-1", event="Product Added", price=9.0,
                           timestamp="2026-11-28T12:00:00Z"))
    return pipeline.runtime.pseudonymizer.subject(USER)


def test_tick_applies_time_based_entries_and_exits(make_pipeline: MakePipeline) -> None:
    recorder = Recorder()
    pipeline = make_pipeline(recorder)
    key = _busy_subject(pipeline)
    store = pipeline.runtime.store
    assert {"recently_active", "cart_open", "email_engaged"} <= set(
        (store.get_profile(key) or {})["segments"])
    changes = pipeline.tick(datetime(2026, 11, 29, 13, tzinfo=UTC))
    assert [(c.segment, c.entered) for c in changes] == [("cart_abandoned", True)]
    assert changes[0].explanation[0].startswith("cart_open: held (cart_open=True)")
    assert recorder.changes[-1] == changes[0]
    [record] = audit_records(pipeline, "segment.changed")
    assert record["segment"] == "cart_abandoned" and record["cause"] == "tick"
    assert USER not in json.dumps(record)

    later = pipeline.tick(datetime(2027, 3, 1, tzinfo=UTC))
    moved = {(c.segment, c.entered) for c in later}
    assert {("dormant", True), ("recently_active", False), ("cart_abandoned", False),
            ("email_engaged", False), ("cart_open", False)} <= moved
    assert pipeline.tick(datetime(2027, 3, 1, tzinfo=UTC)) == []
    segments = (store.get_profile(key) or {})["segments"]
    assert "dormant" in segments and "recently_active" not in segments


def test_withdrawing_personalization_leaves_no_tag_and_no_feature(
        make_pipeline: MakePipeline) -> None:
    recorder = Recorder()
    pipeline = make_pipeline(recorder)
    key = _busy_subject(pipeline)
    store = pipeline.runtime.store
    before = store.get_profile(key)
    assert before is not None and len(before["segments"]) >= 5
    assert before["features"] and before["purpose_features"]["marketing"]

    withdrawal = ConsentUpdate(USER, datetime(2026, 11, 29, tzinfo=UTC), "preference_center",
                               purposes={"personalization": False})
    pipeline.record_consent(withdrawal)
    after = store.get_profile(key)
    assert after is not None
    assert after.get("segments") == {}
    assert not {"features", "purpose_features", "evaluated_at"} & set(after)
    assert "personalization" not in after.get("purposes", [])
    exits = recorder.changes[-len(before["segments"]):]
    assert {c.segment for c in exits} == set(before["segments"])
    assert all(not c.entered and c.explanation == ("consent to personalization withdrawn",)
               for c in exits)
    assert {r["segment"] for r in audit_records(pipeline, "segment.changed")} == set(
        before["segments"])
    sizes = store.segment_sizes()
    assert all(sizes[name] == 0 for name in before["segments"])
    # Nothing comes back until the subject consents again.
    assert pipeline.tick(datetime(2026, 11, 30, tzinfo=UTC)) == []
    pipeline.process(track("late", timestamp="2026-11-30T10:00:00Z"))
    assert "features" not in (store.get_profile(key) or {})


def test_withdrawing_marketing_keeps_profiling_state(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    key = _busy_subject(pipeline)
    store = pipeline.runtime.store
    pipeline.record_consent(ConsentUpdate(USER, datetime(2026, 11, 29, tzinfo=UTC), "import",
                                          purposes={"marketing": False}))
    after = store.get_profile(key) or {}
    assert "purpose_features" not in after
    assert not {"email_engaged", "cart_open", "replenishment_due"} & set(after["segments"])
    assert {"recently_active", "repeat_buyer"} <= set(after["segments"])
    assert after["features"]["purchase_count"] == 8


def test_a_grant_lets_a_subject_into_segments_that_waited_for_it(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    key = _busy_subject(pipeline)
    pipeline.record_consent(ConsentUpdate(USER, datetime(2026, 11, 29, tzinfo=UTC), "import",
                                          purposes={"marketing": False}))
    result = pipeline.record_consent(ConsentUpdate(USER, datetime(2026, 11, 29, 1, tzinfo=UTC),
                                                   "import", purposes={"marketing": True}))
    assert result.changes
    segments = (pipeline.runtime.store.get_profile(key) or {})["segments"]
    # Cart activity is profiling state and stayed: the open cart counts again.
    assert "cart_open" in segments and "email_engaged" not in segments


def test_withdrawal_function_inside_a_transaction(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    for i in range(3):
        pipeline.process(track(f"o-{i}", consent=ALL_GRANTED, timestamp=f"2026-11-2{i}T10:00:00Z"))
    key = pipeline.runtime.pseudonymizer.subject(USER)
    store = pipeline.runtime.store
    members = set((store.get_profile(key) or {})["segments"])
    at = datetime(2026, 11, 25, tzinfo=UTC)
    with store.transaction():
        exits = on_consent_withdrawn(pipeline.runtime, key, "personalization", at)
        assert on_consent_withdrawn(pipeline.runtime, key, "personalization", at) == []
        assert on_consent_withdrawn(pipeline.runtime, "nobody", "personalization", at) == []
        assert on_consent_withdrawn(pipeline.runtime, key, "advertising", at) == []
    assert {c.segment for c in exits} == members and not any(c.entered for c in exits)
    profile: dict[str, Any] = store.get_profile(key) or {}
    assert profile["segments"] == {} and "features" not in profile
    with store.transaction():
        assert tick_segments(pipeline.runtime, datetime(2027, 6, 1, tzinfo=UTC)) == []
