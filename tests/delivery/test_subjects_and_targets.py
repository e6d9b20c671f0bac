"""Queued deliveries in access and erasure requests, and the postgres target."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from cdp_plugin.callbacks.settings import CallbackSettings
from cdp_plugin.callbacks.subjects import erase_subject, export_subject
from cdp_plugin.delivery.config import plan_for
from cdp_plugin.delivery.queue import hand_over
from cdp_plugin.delivery.sender import Sender
from cdp_plugin.delivery.targets import QueuedEvent
from cdp_plugin.pipeline import Pipeline
from tests.conftest import MakePipeline, audit_records, message_keys
from tests.events import ALL_GRANTED, track
from tests.storage.conftest import PostgresTarget

NOW = datetime(2026, 11, 21, tzinfo=UTC)
UNREACHABLE = {"esp": {"kind": "segment", "url": "http://127.0.0.1:9", "write_key": "k"}}


def _queued(pipeline: Pipeline, *events: dict[str, Any]) -> None:
    plan = plan_for(pipeline, pipeline.runtime.config)
    with pipeline.unit_of_work():
        hand_over(pipeline, plan, pipeline.process_batch(list(events)))
    plan.close()


def test_access_shows_queued_deliveries_and_erasure_deletes_them(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(delivery=UNREACHABLE)
    anonymous = track("m-anon", consent=ALL_GRANTED)
    del anonymous["userId"]
    anonymous["anonymousId"] = "anon-77"
    identify = {"type": "identify", "messageId": "m-link", "userId": "user-alice@example.com",
                "anonymousId": "anon-77", "timestamp": "2026-11-20T10:05:00Z",
                "context": {"location": {"country": "DE"},
                            "consent": {"categoryPreferences": ALL_GRANTED}}}
    _queued(pipeline, track("m-1", consent=ALL_GRANTED), anonymous, identify)
    export = export_subject(pipeline, "user-alice@example.com", NOW)
    assert sorted(d["payload"]["messageId"] for d in export["deliveries"]) == [
        "m-1", "m-anon", "m-link"]
    assert {d["status"] for d in export["deliveries"]} == {"pending"}
    erasure = erase_subject(pipeline, CallbackSettings(scrub_after_erase=False),
                            "user-alice@example.com", NOW)
    assert erasure is not None and erasure.deleted["deliveries"] == 3
    assert pipeline.runtime.store.delivery_list() == []
    cancelled = audit_records(pipeline, "delivery.cancelled")
    assert {r["reason"] for r in cancelled} == {"erasure"}  # withdrawn before deleted


def test_the_postgres_target_inserts_each_event_once(make_pipeline: MakePipeline,
                                                     postgres_target: PostgresTarget) -> None:
    postgres = postgres_target
    table = f"{postgres.schema}.forwarded_events"
    pipeline = make_pipeline(delivery={"warehouse": {"kind": "postgres", "dsn": postgres.dsn,
                                                     "table": table}})
    plan = plan_for(pipeline, pipeline.runtime.config)
    with pipeline.unit_of_work():
        hand_over(pipeline, plan, pipeline.process_batch(
            [track(f"m-{n}", consent=ALL_GRANTED) for n in range(3)]))
    sender = Sender(pipeline, plan, rng=random.Random(1))
    assert sender.deliver_due().delivered == 3
    # A redelivery (a crash before the settle) adds nothing: the key is the primary key.
    store = pipeline.runtime.store
    first = store.delivery_list()[0]
    assert plan.queued["warehouse"].send([QueuedEvent(first.message_key, {"again": True})]
                                         ).delivered
    plan.close()
    rows = postgres.admin.execute(
        f"SELECT message_key, payload FROM {table} ORDER BY payload->>'messageId'").fetchall()
    assert [key for key, _ in rows] == message_keys(pipeline, "m-0", "m-1", "m-2")
    assert [payload["messageId"] for _, payload in rows] == ["m-0", "m-1", "m-2"]
    assert "user-alice@example.com" not in json.dumps([p for _, p in rows])


def test_the_postgres_target_retries_when_the_server_is_unreachable(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(delivery={"warehouse": {
        "kind": "postgres", "dsn": "postgresql://nobody:hunter2@127.0.0.1:9/none",
        "table": "events", "timeout_seconds": 1}})
    _queued(pipeline, track("m-1", consent=ALL_GRANTED))
    plan = plan_for(pipeline, pipeline.runtime.config)
    assert Sender(pipeline, plan).deliver_due().retried == 1
    plan.close()
    [retry] = audit_records(pipeline, "delivery.retry")
    assert retry["error"] == "OperationalError"
    assert "hunter2" not in json.dumps(audit_records(pipeline))
