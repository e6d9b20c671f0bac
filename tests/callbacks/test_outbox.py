"""The outbox: delivery with idempotency keys, retries with backoff and jitter, dead letters."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
import responses

from cdp_plugin.callbacks.auth import WebhookVerifier, new_secret
from cdp_plugin.callbacks.outbox import IDEMPOTENCY_HEADER, Outbox
from cdp_plugin.callbacks.settings import CallbackSettings, Destination, OutboxSettings
from tests.callbacks.conftest import T0, Client, MakeClient, update
from tests.conftest import audit_records

URL = "https://esp.test/suppress"


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _withdraw(client: Client, subject: str = "user-erin") -> None:
    client.post(update(T0, subject_id=subject, purposes={"marketing": "granted"}))
    response = client.post(update(T0 + timedelta(hours=1), subject_id=subject,
                                  purposes={"marketing": "denied"}))
    assert response.json["results"][0]["notices"] == 1


def _outbox(client: Client, clock: FakeClock, **policy: Any) -> Outbox:
    policy_ = replace(OutboxSettings(max_attempts=3, base_delay_seconds=10.0,
                                     max_delay_seconds=25.0), **policy)
    settings = CallbackSettings(secrets=client.app.settings.secrets,
                                destinations=client.app.settings.destinations, outbox=policy_)
    return Outbox(client.pipeline, settings, clock=clock, rng=random.Random(7))


@pytest.fixture
def esp_client(make_client: MakeClient) -> Client:
    return make_client(destinations={"esp": Destination("esp", URL)})


@responses.activate
def test_a_notice_is_delivered_once_with_its_idempotency_key(esp_client: Client) -> None:
    _withdraw(esp_client)
    responses.add(responses.POST, URL, status=202)
    [queued] = esp_client.pipeline.runtime.store.outbox_list()
    outbox = _outbox(esp_client, FakeClock(datetime.now().astimezone()))

    report = outbox.deliver_due()

    assert (report.delivered, report.retried, report.dead) == (1, 0, 0)
    [call] = responses.calls
    assert call.request.headers[IDEMPOTENCY_HEADER] == queued.idempotency_key
    body = json.loads(call.request.body or b"")
    assert (body["type"], body["name"], body["idempotency_key"]) == (
        "suppression", "marketing", queued.idempotency_key)
    assert "user-erin" not in str(call.request.body)
    [notice] = esp_client.pipeline.runtime.store.outbox_list()
    assert (notice.status, notice.attempts) == ("delivered", 1)
    assert outbox.deliver_due().attempted == 0
    assert len(responses.calls) == 1
    kinds = [r["kind"] for r in audit_records(esp_client.pipeline) if r["kind"].startswith(
        "outbox.")]
    assert kinds == ["outbox.queued", "outbox.attempt", "outbox.delivered"]


@responses.activate
def test_failures_are_retried_with_jittered_exponential_backoff(esp_client: Client) -> None:
    _withdraw(esp_client)
    responses.add(responses.POST, URL, status=503)
    responses.add(responses.POST, URL, body=requests.ConnectionError("refused"))
    responses.add(responses.POST, URL, status=200)
    clock = FakeClock(datetime.now().astimezone())
    outbox = _outbox(esp_client, clock)
    store = esp_client.pipeline.runtime.store

    assert outbox.deliver_due().retried == 1
    [notice] = store.outbox_list()
    first_wait = (notice.next_attempt_at - clock.now).total_seconds()
    assert 5.0 <= first_wait <= 10.0  # half to all of base * 2**0
    assert notice.last_error == "http 503"
    assert outbox.deliver_due().attempted == 0  # not due yet

    clock.advance(first_wait)
    assert outbox.deliver_due().retried == 1
    [notice] = store.outbox_list()
    second_wait = (notice.next_attempt_at - clock.now).total_seconds()
    assert 10.0 <= second_wait <= 20.0  # base * 2**1
    assert notice.last_error == "ConnectionError"

    clock.advance(second_wait)
    assert outbox.deliver_due().delivered == 1
    keys = {call.request.headers[IDEMPOTENCY_HEADER] for call in responses.calls}
    assert len(responses.calls) == 3 and len(keys) == 1
    retries = audit_records(esp_client.pipeline, "outbox.retry")
    assert [(r["attempt"], r["error"]) for r in retries] == [(1, "http 503"),
                                                            (2, "ConnectionError")]
    assert [r["attempt"] for r in audit_records(esp_client.pipeline, "outbox.attempt")] == [
        1, 2, 3]


@responses.activate
def test_after_max_attempts_a_notice_is_dead_lettered(esp_client: Client) -> None:
    _withdraw(esp_client)
    responses.add(responses.POST, URL, status=500)
    clock = FakeClock(datetime.now().astimezone())
    outbox = _outbox(esp_client, clock)

    for _ in range(3):
        outbox.deliver_due()
        clock.advance(60)

    [notice] = esp_client.pipeline.runtime.store.outbox_list()
    assert (notice.status, notice.attempts) == ("dead", 3)
    assert outbox.deliver_due().attempted == 0
    assert len(responses.calls) == 3
    [dead] = audit_records(esp_client.pipeline, "outbox.dead_lettered")
    assert (dead["attempt"], dead["error"]) == (3, "http 500")
    assert esp_client.pipeline.runtime.store.outbox_next_due() is None


def test_the_backoff_is_capped_and_stays_within_its_jitter_band(client: Client) -> None:
    outbox = _outbox(client, FakeClock(T0), base_delay_seconds=1.0, max_delay_seconds=30.0)
    waits = [outbox.backoff(n).total_seconds() for n in range(1, 12)]
    ceilings = [min(30.0, 2.0 ** (n - 1)) for n in range(1, 12)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert max(waits) <= 30.0


@responses.activate
def test_notices_to_a_destination_with_a_secret_are_signed(make_client: MakeClient) -> None:
    secret = new_secret()
    client = make_client(destinations={"esp": Destination("esp", URL, secret=secret)})
    _withdraw(client)
    responses.add(responses.POST, URL, status=200)

    _outbox(client, FakeClock(datetime.now().astimezone())).deliver_due()

    [call] = responses.calls
    headers = {k.lower(): v for k, v in call.request.headers.items()}
    body = call.request.body
    assert isinstance(body, bytes)
    message = WebhookVerifier([secret]).verify(headers, body)
    assert message.webhook_id == headers["idempotency-key"]


@responses.activate
def test_a_notice_for_a_destination_no_longer_configured_is_dead_lettered(
        esp_client: Client) -> None:
    _withdraw(esp_client)
    clock = FakeClock(datetime.now().astimezone())
    settings = CallbackSettings(outbox=OutboxSettings(max_attempts=1))
    Outbox(esp_client.pipeline, settings, clock=clock).deliver_due()
    [notice] = esp_client.pipeline.runtime.store.outbox_list()
    assert (notice.status, notice.last_error) == ("dead", "destination.unconfigured")
    assert len(responses.calls) == 0
