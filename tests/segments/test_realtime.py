"""Tags enter and exit as events arrive, with explanations, only under the right consent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import SegmentChange
from tests.conftest import MakePipeline, audit_records, message_keys
from tests.events import ALL_GRANTED, track

USER = "user-alice@example.com"


def _profile(pipeline: Pipeline, user: str = USER) -> dict[str, Any]:
    key = pipeline.runtime.pseudonymizer.subject(user)
    return pipeline.runtime.store.get_profile(key) or {}


def _changes(changes: tuple[SegmentChange, ...], entered: bool) -> dict[str, SegmentChange]:
    return {change.segment: change for change in changes if change.entered is entered}


def test_tags_enter_and_exit_as_events_arrive_with_explanations(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    first = pipeline.process(track("m-1", consent=ALL_GRANTED))
    entered = _changes(first.segment_changes, True)
    assert {"recently_active", "new_customer", "german_speakers", "mobile_user"} <= set(entered)
    assert entered["recently_active"].explanation == (
        "days_since(last_seen) <= 7: held (last_seen=2026-11-20T10:00:00.000+00:00)",)
    assert entered["mobile_user"].active is False  # in review: shadow mode

    second = pipeline.process(track("m-2", consent=ALL_GRANTED, revenue=10.0,
                                    timestamp="2026-11-21T10:00:00Z"))
    repeat = _changes(second.segment_changes, True)["repeat_buyer"]
    assert repeat.explanation == ("purchase_count >= 2: held (purchase_count=2)",)

    later = pipeline.process(track("m-3", consent=ALL_GRANTED, revenue=10.0,
                                   timestamp="2026-12-20T10:00:00Z"))
    left = _changes(later.segment_changes, False)["new_customer"]
    assert left.explanation == (
        "days_since(first_seen) <= 14: failed (first_seen=2026-11-20T10:00:00.000+00:00)",)
    assert set(_profile(pipeline)["segments"]) >= {"recently_active", "repeat_buyer"}
    assert "new_customer" not in _profile(pipeline)["segments"]
    [m3] = message_keys(pipeline, "m-3")
    [record] = [r for r in audit_records(pipeline, "event.decision") if r["message_id"] == m3]
    assert {"segment": "new_customer", "entered": False, "active": False} in record["segments"]


def test_no_features_without_consent_to_profiling(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    consent = {**ALL_GRANTED, "Personalization": False}
    outcome = pipeline.process(track("m-1", consent=consent))
    assert outcome.forwarded and outcome.segment_changes == ()
    assert _profile(pipeline) == {}


def test_marketing_features_and_segments_need_marketing_consent(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    consent = {**ALL_GRANTED, "Marketing": False}
    for i in range(3):
        pipeline.process(track(f"e-{i}", event="Email Opened", consent=consent,
                               timestamp=f"2026-11-2{i}T10:00:00Z"))
    pipeline.process(track("m-4", event="Product Added", consent=consent, price=10.0,
                           timestamp="2026-11-23T10:00:00Z"))
    profile = _profile(pipeline)
    assert profile["features"]["event_count"] == 4
    assert "purpose_features" not in profile
    assert "email_open_count" not in profile["features"]
    assert not {"email_engaged", "cart_open"} & set(profile["segments"])
    assert "marketing" not in profile["purposes"]


def test_an_in_event_withdrawal_ends_memberships_and_deletes_what_it_justified(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    for i in range(3):
        pipeline.process(track(f"e-{i}", event="Email Opened", consent=ALL_GRANTED,
                               timestamp=f"2026-11-2{i}T10:00:00Z"))
    profile = _profile(pipeline)
    assert "email_engaged" in profile["segments"]
    assert profile["purpose_features"]["marketing"]["email_open_count"] == 3

    no_marketing = {**ALL_GRANTED, "Marketing": False}
    outcome = pipeline.process(track("m-9", consent=no_marketing, timestamp="2026-11-24T10:00:00Z"))
    left = _changes(outcome.segment_changes, False)
    assert left["email_engaged"].explanation == ("consent to marketing denied",)
    profile = _profile(pipeline)
    assert "purpose_features" not in profile and "email_engaged" not in profile["segments"]
    assert "recently_active" in profile["segments"] and profile["features"]["event_count"] == 4

    no_profiling = {**ALL_GRANTED, "Personalization": False}
    outcome = pipeline.process(track("m-10", consent=no_profiling,
                                     timestamp="2026-11-25T10:00:00Z"))
    assert outcome.forwarded
    assert set(_changes(outcome.segment_changes, False)) >= {"recently_active", "german_speakers"}
    assert not _changes(outcome.segment_changes, True)
    profile = _profile(pipeline)
    assert profile.get("segments") == {} and "features" not in profile


def test_profile_keys_of_other_stages_are_left_alone(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    key = pipeline.runtime.pseudonymizer.subject(USER)
    pipeline.runtime.store.put_profile(
        key, {"residency": "DE", "attributes": {"plan": "gold"}}, datetime(2026, 11, 1, tzinfo=UTC))
    pipeline.process(track("m-1", consent=ALL_GRANTED))
    pipeline.process(track("m-2", consent={**ALL_GRANTED, "Personalization": False},
                           timestamp="2026-11-21T10:00:00Z"))
    profile = _profile(pipeline)
    assert profile["residency"] == "DE" and profile["attributes"] == {"plan": "gold"}


def test_daily_size_and_churn_are_counted(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.process(track("m-1", consent=ALL_GRANTED))
    pipeline.process(track("m-2", "user-bob@example.com", consent=ALL_GRANTED))
    pipeline.process(track("m-3", consent=ALL_GRANTED, timestamp="2026-12-20T10:00:00Z"))
    store = pipeline.runtime.store
    assert store.segment_sizes()["new_customer"] == 1
    rows = {(d.segment, d.day.isoformat()): d for d in store.segment_days()}
    first = rows["new_customer", "2026-11-20"]
    assert (first.entered, first.exited, first.size) == (2, 0, 2)
    later = rows["new_customer", "2026-12-20"]
    assert (later.entered, later.exited, later.size) == (0, 1, 1)
