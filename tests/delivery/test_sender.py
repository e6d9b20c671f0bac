"""Queued delivery, end to end on loopback: the pipeline decides and queues, the
sender delivers to a capture server (a Segment-compatible batch API or a
webhook receiver), and what arrives, what is retried and what is audited is
checked."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from cdp_plugin.callbacks.auth import new_secret
from cdp_plugin.delivery.config import DeliveryPlan, plan_for
from cdp_plugin.delivery.queue import hand_over
from cdp_plugin.delivery.sender import Sender
from cdp_plugin.delivery.targets import parse_retry_after
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import ConsentUpdate
from tests.conftest import MakePipeline, audit_records, message_keys
from tests.delivery.capture import Capture
from tests.events import ALL_GRANTED, track
from tests.gateway.conftest import serving

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DOWN_KEY = "wk_down_7c1d"
ANALYTICS_ONLY = {"Analytics": True, "Marketing": False, "Personalization": False}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Setup:
    pipeline: Pipeline
    plan: DeliveryPlan
    sender: Sender
    capture: Capture
    clock: Clock

    def decide(self, *events: dict[str, Any]) -> None:
        with self.pipeline.unit_of_work():
            hand_over(self.pipeline, self.plan, self.pipeline.process_batch(list(events)))

    def pass_once(self) -> Any:
        return self.sender.deliver_due()


def _setup(make_pipeline: MakePipeline, capture: Capture, url: str, kind: str,
           **retry: Any) -> Iterator[Setup]:
    clock = Clock()
    if kind == "segment":
        spec: dict[str, Any] = {"kind": "segment", "url": url, "write_key": DOWN_KEY}
    else:
        spec = {"kind": "webhook", "url": url + "/hook", "secret": capture.write_key}
        capture.write_key = None
    delivery = {"esp": {**spec, "retry": {"max_attempts": 3, "base_delay_seconds": 10.0,
                                          **retry}}}
    pipeline = make_pipeline(clock=clock, delivery=delivery)
    plan = plan_for(pipeline, pipeline.runtime.config)
    sender = Sender(pipeline, plan, clock=clock, rng=random.Random(7))
    try:
        yield Setup(pipeline, plan, sender, capture, clock)
    finally:
        plan.close()


@pytest.fixture
def segment(make_pipeline: MakePipeline) -> Iterator[Setup]:
    capture = Capture(write_key=DOWN_KEY)
    with serving(capture) as url:
        yield from _setup(make_pipeline, capture, url, "segment")


@pytest.fixture
def webhook(make_pipeline: MakePipeline) -> Iterator[Setup]:
    capture = Capture(write_key=new_secret())
    with serving(capture) as url:
        yield from _setup(make_pipeline, capture, url, "webhook")


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["messageId"] for event in events]


def test_consented_events_arrive_minimized_and_denied_ones_never(segment: Setup) -> None:
    segment.decide(track("m-1", consent=ALL_GRANTED), track("m-2", consent=ANALYTICS_ONLY),
                   track("m-3", "user-bob@example.com", consent=ALL_GRANTED))
    report = segment.pass_once()
    assert report.delivered == 2 and report.retried == report.dead == 0
    [request] = segment.capture.received
    assert request.path == "/v1/batch" and request.json["sentAt"]
    assert _ids(segment.capture.events()) == ["m-1", "m-3"]
    delivered = segment.capture.events()[0]
    assert "+49 151" not in str(delivered) and "203.0.113.77" not in str(delivered)
    assert "user-alice@example.com" not in str(delivered)
    [queued] = audit_records(segment.pipeline, "delivery.queued")
    assert queued["messages"] == message_keys(segment.pipeline, "m-1", "m-3")
    [attempt] = audit_records(segment.pipeline, "delivery.attempt")
    [done] = audit_records(segment.pipeline, "delivery.delivered")
    assert attempt["messages"] == done["messages"] == queued["messages"]
    assert segment.pass_once().attempted == 0  # nothing left


def test_a_503_is_retried_after_retry_after_and_delivers_once_more(segment: Setup) -> None:
    segment.capture.script = [(503, {"Retry-After": "120"})]
    segment.decide(track("m-1", consent=ALL_GRANTED))
    assert segment.pass_once().retried == 1
    [retry] = audit_records(segment.pipeline, "delivery.retry")
    assert retry["error"] == "http 503"
    assert datetime.fromisoformat(retry["retry_at"]) == T0 + timedelta(seconds=120)
    segment.clock.advance(119)
    assert segment.pass_once().attempted == 0  # Retry-After outweighs the 10 s backoff
    segment.clock.advance(1)
    assert segment.pass_once().delivered == 1
    assert [r.headers["x-answered"] for r in segment.capture.received] == ["503", "200"]
    assert _ids(segment.capture.events()) == ["m-1"]


def test_a_failed_event_holds_back_its_subjects_later_events(segment: Setup) -> None:
    segment.capture.script = [500]
    segment.decide(track("a-1", consent=ALL_GRANTED))
    assert segment.pass_once().retried == 1
    segment.decide(track("a-2", consent=ALL_GRANTED),
                   track("b-1", "user-bob@example.com", consent=ALL_GRANTED))
    assert segment.pass_once().delivered == 1  # bob's event; alice's waits behind a-1
    assert _ids(segment.capture.events()) == ["b-1"]
    segment.clock.advance(10)
    assert segment.pass_once().delivered == 2
    assert _ids(segment.capture.events()) == ["b-1", "a-1", "a-2"]


def test_a_permanent_refusal_dead_letters_and_requeue_delivers(segment: Setup) -> None:
    segment.capture.script = [400]
    segment.decide(track("m-1", consent=ALL_GRANTED))
    assert segment.pass_once().dead == 1
    store = segment.pipeline.runtime.store
    [dead] = store.delivery_list(status="dead")
    assert dead.last_error == "http 400" and dead.attempts == 1
    [record] = audit_records(segment.pipeline, "delivery.dead_lettered")
    assert record["error"] == "http 400"
    assert store.delivery_requeue("esp", None, segment.clock()) == [dead]
    assert segment.pass_once().delivered == 1
    assert _ids(segment.capture.events()) == ["m-1"]


def test_after_max_attempts_the_event_is_dead_lettered(segment: Setup) -> None:
    segment.capture.script = [502, 502, 502]
    segment.decide(track("m-1", consent=ALL_GRANTED))
    reports = []
    for _ in range(3):
        reports.append(segment.pass_once())
        segment.clock.advance(3600)
    assert [(r.retried, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    assert segment.capture.events() == []


def test_an_unreachable_destination_is_retried(segment: Setup) -> None:
    segment.plan.queued["esp"].url = "http://127.0.0.1:9/v1/batch"  # type: ignore[attr-defined]
    segment.decide(track("m-1", consent=ALL_GRANTED))
    assert segment.pass_once().retried == 1
    [retry] = audit_records(segment.pipeline, "delivery.retry")
    assert retry["error"] == "ConnectionError"


def test_a_withdrawal_cancels_queued_deliveries_before_they_are_sent(segment: Setup) -> None:
    segment.decide(track("m-1", consent=ALL_GRANTED),
                   track("m-2", "user-bob@example.com", consent=ALL_GRANTED))
    segment.pipeline.record_consent(ConsentUpdate(
        "user-alice@example.com", T0, "preference_center", purposes={"marketing": False}))
    assert segment.pass_once().delivered == 1
    assert _ids(segment.capture.events()) == ["m-2"]
    [cancelled] = audit_records(segment.pipeline, "delivery.cancelled")
    assert cancelled["messages"] == message_keys(segment.pipeline, "m-1")
    assert cancelled["reason"] == "withdrawal" and cancelled["purposes"] == ["marketing"]


def test_a_withdrawal_of_another_purpose_cancels_nothing(segment: Setup) -> None:
    segment.decide(track("m-1", consent=ALL_GRANTED))
    segment.pipeline.record_consent(ConsentUpdate(
        "user-alice@example.com", T0, "preference_center", purposes={"advertising": False}))
    assert segment.pass_once().delivered == 1
    assert audit_records(segment.pipeline, "delivery.cancelled") == []


def test_webhook_deliveries_verify_with_the_standard_webhooks_library(webhook: Setup) -> None:
    secret = webhook.plan.queued["esp"]._secret  # type: ignore[attr-defined]
    webhook.decide(track("m-1", consent=ALL_GRANTED), track("m-2", consent=ALL_GRANTED))
    assert webhook.pass_once().delivered == 2
    verifier = Webhook(secret)
    ids = []
    for request in webhook.capture.received:
        assert request.path == "/hook"
        verified = verifier.verify(request.body, request.headers)
        ids.append(verified["messageId"])
        assert request.headers["idempotency-key"] == request.headers["webhook-id"]
    assert ids == ["m-1", "m-2"]
    keys = [r.headers["webhook-id"] for r in webhook.capture.received]
    assert keys == message_keys(webhook.pipeline, "m-1", "m-2")


def test_a_blocked_event_keeps_its_attempts(webhook: Setup) -> None:
    """One request per event: once a subject's event fails, its next one in the
    same pass is not sent, and its attempt is given back."""
    webhook.capture.script = [500]
    webhook.decide(track("m-1", consent=ALL_GRANTED), track("m-2", consent=ALL_GRANTED))
    report = webhook.pass_once()
    assert report.retried == 1
    assert len(webhook.capture.received) == 1
    store = webhook.pipeline.runtime.store
    assert [(d.attempts, d.last_error) for d in store.delivery_list()] == [
        (1, "http 500"), (0, "blocked")]
    [_, blocked] = audit_records(webhook.pipeline, "delivery.retry")
    assert blocked["error"] == "blocked"
    webhook.clock.advance(10)
    assert webhook.pass_once().delivered == 2
    assert [r.json["messageId"] for r in webhook.capture.received] == ["m-1", "m-1", "m-2"]


def test_a_redirect_is_not_followed_and_dead_letters(segment: Setup) -> None:
    """A downstream that answers 302 elsewhere (a hijacked DNS name, a moved
    service) must not receive the events somewhere nobody configured."""
    elsewhere = Capture()
    with serving(elsewhere) as other:
        segment.capture.script = [(302, {"Location": other + "/v1/batch"})]
        segment.decide(track("m-1", consent=ALL_GRANTED))
        assert segment.pass_once().dead == 1
    assert elsewhere.received == []
    [record] = audit_records(segment.pipeline, "delivery.dead_lettered")
    assert record["error"] == "http 302"


@pytest.mark.parametrize(("header", "expected"), [
    ("120", 120.0),
    ("99999999999", 86400.0),          # capped at a day
    ("-5", None), ("1e9", None), ("soon", None), ("", None), (None, None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),   # a date in the past: now
    ("Mon, 07 Dec 2026 10:02:00 GMT", 120.0),
])
def test_retry_after_from_a_hostile_downstream_is_bounded(header: str | None,
                                                           expected: float | None) -> None:
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == expected


def test_a_downstream_that_hangs_is_retried_after_the_timeout(
        make_pipeline: MakePipeline) -> None:
    release = threading.Event()

    def hanging(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        release.wait(10)
        start_response("200 OK", [])
        return [b"{}"]

    with serving(hanging) as url:
        pipeline = make_pipeline(delivery={"esp": {
            "kind": "segment", "url": url, "write_key": DOWN_KEY, "timeout_seconds": 0.3}})
        plan = plan_for(pipeline, pipeline.runtime.config)
        with pipeline.unit_of_work():
            hand_over(pipeline, plan, pipeline.process_batch([track("m-1", consent=ALL_GRANTED)]))
        assert Sender(pipeline, plan).deliver_due().retried == 1
        release.set()
        plan.close()
    [retry] = audit_records(pipeline, "delivery.retry")
    assert retry["error"] == "ReadTimeout"
