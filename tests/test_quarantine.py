"""Quarantine: events of subjects with unknown consent are held, then released or purged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_plugin import hookimpl
from cdp_plugin.types import ConsentUpdate, Outcome, Status
from tests.conftest import MakePipeline, audit_records, message_keys
from tests.events import track

USER = "user-bob@example.com"
PURPOSES = ("analytics", "personalization", "marketing", "advertising")


def _update(granted: bool, day: int = 25, **only: bool) -> ConsentUpdate:
    purposes = only or dict.fromkeys(PURPOSES, granted)
    return ConsentUpdate(USER, datetime(2026, 11, day, tzinfo=UTC), "preference_center",
                         purposes=purposes)


def _held_stream() -> list[dict[str, Any]]:
    return [track(f"m-{i}", USER, timestamp=f"2026-11-20T10:0{i}:00Z", revenue=i, currency="EUR")
            for i in range(5)]


def test_grant_releases_held_events_in_original_order(make_pipeline: MakePipeline) -> None:
    released: list[Outcome] = []

    class Downstream:
        @hookimpl
        def cdp_quarantine_released(self, outcome: Outcome) -> None:
            released.append(outcome)

    pipeline = make_pipeline(Downstream())
    held = pipeline.process_batch(_held_stream())
    assert {o.status for o in held} == {Status.QUARANTINED}
    result = pipeline.record_consent(_update(True))
    assert [o.message_id for o in result.released] == [f"m-{i}" for i in range(5)]
    assert all(o.status is Status.FORWARDED for o in result.released)
    assert [o.event["timestamp"] for o in result.released if o.event] == [
        f"2026-11-20T10:0{i}:00Z" for i in range(5)]
    assert [o.event["properties"]["revenue"] for o in result.released if o.event] == list(
        range(5))
    assert released == list(result.released)
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert pipeline.runtime.store.quarantine_list(key) == []
    records = audit_records(pipeline, "quarantine.released")
    assert [r["message_id"] for r in records] == message_keys(pipeline,
                                                              *(f"m-{i}" for i in range(5)))


def test_denial_purges_held_events(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.process_batch(_held_stream())
    result = pipeline.record_consent(_update(False))
    assert [o.status for o in result.released] == [Status.DROPPED] * 5
    assert all(o.event is None for o in result.released)
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert pipeline.runtime.store.quarantine_count(key) == 0
    assert len(audit_records(pipeline, "quarantine.purged")) == 5
    assert not audit_records(pipeline, "quarantine.released")


def test_partial_answer_keeps_events_held(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.process_batch(_held_stream())
    # A denial of one purpose while the others stay unknown settles nothing.
    result = pipeline.record_consent(_update(False, advertising=False))
    assert result.released == ()
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert pipeline.runtime.store.quarantine_count(key) == 5


def test_ttl_purges_only_expired_events(make_pipeline: MakePipeline) -> None:
    now = [datetime(2026, 11, 28, 12, tzinfo=UTC)]
    pipeline = make_pipeline(quarantine_ttl_hours=24)
    pipeline.clock = lambda: now[0]
    pipeline.process_batch(_held_stream()[:2])
    now[0] += timedelta(hours=12)
    pipeline.process_batch(_held_stream()[2:])
    assert pipeline.expire_quarantine(now[0] + timedelta(hours=11)) == 0
    assert pipeline.expire_quarantine(now[0] + timedelta(hours=13)) == 2
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert [h.message_id for h in pipeline.runtime.store.quarantine_list(key)] == message_keys(
        pipeline, "m-2", "m-3", "m-4")
    purged = audit_records(pipeline, "quarantine.purged")
    assert [(r["message_id"], r["reasons"]) for r in purged] == [
        (key, ["quarantine.expired"]) for key in message_keys(pipeline, "m-0", "m-1")]


def test_release_keeps_the_gpc_header_of_the_original_request(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    event = track("m-1", USER)
    event["context"]["location"] = {"country": "FR"}
    assert pipeline.process(event, headers={"Sec-GPC": "1"}).status is Status.QUARANTINED
    key = pipeline.runtime.pseudonymizer.subject(USER)
    [held] = pipeline.runtime.store.quarantine_list(key)
    assert json.loads(held.payload)["headers"] == {"Sec-GPC": "1"}
    # Granted at the preference center a day before the event: GPC (at event time) is later.
    result = pipeline.record_consent(_update(True, day=19))
    [outcome] = result.released
    assert outcome.forwarded and "advertising" not in outcome.purposes
