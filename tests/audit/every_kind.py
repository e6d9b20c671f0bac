"""A scenario that makes the pipeline and the callbacks write every audit record kind.

:func:`write_every_kind` drives public entry points only (events, consent,
activation, experiments, the scheduled jobs, the callback endpoints, the outbox, a log
reopened after crash damage) and returns every record written, in order, as
the writer stored it. :func:`normalized` replaces what differs between runs
(the writer's ``ts``, the random double opt-in request ids) so two runs can be
compared byte for byte; the master key is fixed, so pseudonyms repeat.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import responses

from cdp_plugin import hookimpl
from cdp_plugin.callbacks.app import CallbackApp
from cdp_plugin.callbacks.auth import new_secret, signed_headers
from cdp_plugin.callbacks.outbox import Outbox
from cdp_plugin.callbacks.settings import (
    CallbackSettings,
    Destination,
    DoubleOptInSettings,
    OutboxSettings,
)
from cdp_plugin.config import Config
from cdp_plugin.delivery.admin import requeue
from cdp_plugin.delivery.config import load_delivery
from cdp_plugin.delivery.queue import hand_over
from cdp_plugin.delivery.sender import Sender
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import AuditEntry, ConsentUpdate, Event
from tests.callbacks.conftest import Client, encode
from tests.conftest import RULES_DIR, MakePipeline, audit_records
from tests.events import ALL_GRANTED, track

URL = "https://esp.test/notices"
DOWNSTREAM = "https://collector.test"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
GRANT_ALL = {"analytics": True, "personalization": True, "marketing": True,
             "advertising": True}


class Recorder:
    """Keeps every record the log accepted, with the key order the writer saw."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @hookimpl
    def cdp_audit_record_written(self, entry: AuditEntry) -> None:
        self.records.append(dict(entry.record))


class FailingDecider:
    """Raises in ``cdp_decide`` for one message id, so a ``plugin.error`` is written."""

    @hookimpl(tryfirst=True)
    def cdp_decide(self, event: Event) -> None:
        if event.message_id == "m-fail":
            raise RuntimeError("decider down")


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class _Signer:
    """Signed requests with webhook ids numbered from 1 and the application's clock."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.ids = itertools.count(1)

    def __call__(self, method: str, path: str, payload: Any = None) -> Any:
        client = self.client
        body = b"" if payload is None else encode(payload)
        headers = signed_headers(client.secret, body, f"msg_{next(self.ids)}",
                                 int(client.app.clock().timestamp()))
        response = client.request(method, path, body, headers=headers)
        assert response.status == 200, (path, response.json)
        return response.json


def subject_request(kind: str, subject: str) -> dict[str, Any]:
    """An OpenDSR-shaped access or erasure request with a fixed id."""
    return {"subject_request_type": kind, "subject_id": subject,
            "subject_request_id": "4c4b7f8e-6d43-4c6e-9a57-0f2d1b7c9e01"}


def _update(subject: str, at: datetime, **sections: Any) -> dict[str, Any]:
    return {"subject_id": subject, "captured_at": at.isoformat(), **sections}


def _events(pipeline: Pipeline) -> None:
    """Decisions of every action, an invalid event, a duplicate and a plugin error."""
    assert pipeline.process(track("m-allow", "user-ann", consent=ALL_GRANTED)).forwarded
    pipeline.process(track("m-allow", "user-ann", consent=ALL_GRANTED))  # duplicate
    pipeline.process(track("m-drop", "user-ann", consent={k: False for k in ALL_GRANTED}))
    pipeline.process({"type": "track", "messageId": "m-invalid"})
    pipeline.process(track("m-fail", "user-ann", consent=ALL_GRANTED))
    for n, user in enumerate(("user-held-release", "user-held-purge", "user-held-expire")):
        pipeline.process(track(f"m-held-{n}", user))
    pipeline.record_consent(ConsentUpdate("user-held-release", T0, "import", GRANT_ALL))
    pipeline.record_consent(ConsentUpdate("user-held-purge", T0, "import",
                                          dict.fromkeys(GRANT_ALL, False)))


def _segments(pipeline: Pipeline) -> None:
    """Activity that opens a cart, then a tick that abandons it (``segment.changed``)."""
    pipeline.record_consent(ConsentUpdate("user-busy", datetime(2026, 11, 1, tzinfo=UTC),
                                          "preference_center", GRANT_ALL))
    for i in range(4):
        pipeline.process(track(f"e-{i}", "user-busy", "Email Opened",
                               timestamp=f"2026-11-1{i}T10:00:00Z"))
    for i in range(8):
        pipeline.process(track(f"o-{i}", "user-busy", revenue=20.0,
                               timestamp=f"2026-11-2{i}T10:00:00Z"))
    pipeline.process(track("c-1", "user-busy", "Product Added", price=9.0,
                           timestamp="2026-11-28T12:00:00Z"))
    assert pipeline.tick(datetime(2026, 11, 29, 13, tzinfo=UTC))


def _scheduled(pipeline: Pipeline, clock: _Clock) -> None:
    """Activation, re-consent, quarantine expiry, retention and key rotation."""
    pipeline.may_contact("user-ann", "email", at=datetime(2026, 11, 24, 12, tzinfo=UTC),
                         record=False)
    pipeline.record_consent(ConsentUpdate("user-old", datetime(2025, 1, 1, tzinfo=UTC),
                                          "import", {"marketing": True},
                                          channels={"email": True}))
    assert pipeline.reconsent_due(datetime(2026, 11, 28, tzinfo=UTC))
    assert pipeline.expire_quarantine(clock.now + timedelta(days=30)) == 1
    pipeline.process(track("m-held-retained", "user-held-retained"))
    pipeline.sweep_retention(clock.now + timedelta(days=30))
    pipeline.rotate_keys()


def _experiments(pipeline: Pipeline) -> None:
    """A send in the shipped replenishment timing test (assigned, exposed), then an
    order within its window (converted)."""
    pipeline.record_consent(ConsentUpdate("user-gus", T0, "preference_center",
                                          {"marketing": True}, channels={"email": True}))
    pipeline.may_contact("user-gus", "email", at=T0 + timedelta(hours=3),
                         experiment="replenishment_timing")
    assert pipeline.process(track("m-x-1", "user-gus", consent=ALL_GRANTED,
                                  timestamp="2026-11-21T10:00:00Z")).forwarded


def _deliveries(pipeline: Pipeline, clock: _Clock) -> None:
    """Events queued for a ``segment`` target: delivered, retried, dead-lettered,
    requeued and delivered, and one cancelled by a withdrawal."""
    plan = load_delivery(Config(delivery={"esp": {
        "kind": "segment", "url": DOWNSTREAM, "write_key": "wk_down_1",
        "retry": {"max_attempts": 2, "base_delay_seconds": 10.0}}}),
        pipeline.runtime.rules.purposes, pipeline.hooks.register_destinations())
    sender = Sender(pipeline, plan, clock=clock, rng=random.Random(7))

    def decide(*events: dict[str, Any]) -> None:
        with pipeline.unit_of_work():
            hand_over(pipeline, plan, pipeline.process_batch(list(events)))

    batch = DOWNSTREAM + "/v1/batch"
    decide(track("m-d-1", "user-eve", consent=ALL_GRANTED))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, batch, status=200)
        assert sender.deliver_due().delivered == 1
    decide(track("m-d-2", "user-eve", consent=ALL_GRANTED))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, batch, status=503)
        assert sender.deliver_due().retried == 1
        clock.now += timedelta(minutes=5)
        assert sender.deliver_due().dead == 1
    assert requeue(pipeline, "esp", None)
    decide(track("m-d-3", "user-fay", consent=ALL_GRANTED))
    pipeline.record_consent(ConsentUpdate("user-fay", clock.now, "preference_center",
                                          {"marketing": False}))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, batch, status=200)
        assert sender.deliver_due().delivered == 1
    plan.close()


def _callbacks(client: Client, clock: _Clock) -> None:
    """Preferences with caps and double opt-in, confirmation, cancellation, withdrawal
    notices through the outbox (delivered, retried, dead-lettered), export and erasure."""
    signed = _Signer(client)
    result = signed("POST", "/v1/preferences", _update(
        "user-cleo", T0, purposes={"marketing": "granted"}, channels={"email": "granted"},
        residency="DE", frequency_caps={"email": {"max": 2, "per_days": 7}}))
    [issued] = result["results"][0]["confirmations"]
    confirm = client.request("POST", "/v1/double-opt-in/confirm",
                             encode({"token": issued["token"]}), sign=False)
    assert confirm.json == {"status": "confirmed"}
    signed("POST", "/v1/preferences", _update(
        "user-dan", T0, purposes={"marketing": "granted"}, channels={"email": "granted"},
        residency="DE"))
    signed("POST", "/v1/preferences", _update(
        "user-dan", T0 + timedelta(hours=1), channels={"email": "denied"}))
    signed("POST", "/v1/preferences", _update(
        "user-cleo", T0 + timedelta(hours=2), purposes={"marketing": "denied"}))
    outbox = Outbox(client.pipeline, replace(client.app.settings, outbox=OutboxSettings(
        max_attempts=2, base_delay_seconds=10.0, max_delay_seconds=25.0)),
        clock=clock, rng=random.Random(7))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, URL, status=202)
        assert outbox.deliver_due().delivered == 1
    signed("POST", "/v1/preferences", _update(
        "user-dan", T0 + timedelta(hours=3), purposes={"marketing": "denied"}))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, URL, status=503)
        assert outbox.deliver_due().retried == 1
        clock.now += timedelta(minutes=5)
        assert outbox.deliver_due().dead == 1
    signed("POST", "/v1/subject-requests", subject_request("access", "user-cleo"))
    signed("POST", "/v1/subject-requests", subject_request("erasure", "user-cleo"))


def write_every_kind(make_pipeline: MakePipeline, config: Config) -> list[dict[str, Any]]:
    """Run the scenario on the test's storage; every record written, in order."""
    recorder = Recorder()
    clock = _Clock(T0)
    # A fixed development master key: pseudonyms, and so the order of subjects, repeat.
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "master.key").write_text(
        base64.b64encode(bytes(range(32))).decode("ascii"), encoding="ascii")
    secret = new_secret()
    settings = CallbackSettings(
        secrets=(secret,), destinations={"esp": Destination("esp", URL)},
        double_opt_in=DoubleOptInSettings(channels=frozenset({"email"}),
                                          jurisdictions=frozenset({"EU"})))
    client = Client(CallbackApp(make_pipeline(recorder, FailingDecider()), settings), secret)
    client.app.clock = clock
    pipeline = client.pipeline
    pipeline.clock = clock
    _events(pipeline)
    _segments(pipeline)
    _scheduled(pipeline, clock)
    _experiments(pipeline)
    _deliveries(pipeline, clock)
    _callbacks(client, clock)
    pipeline.close()
    segments = sorted(pipeline.runtime.audit_log.directory.glob("segment-*.jsonl"))
    with segments[-1].open("ab") as torn:
        torn.write(b'{"kind":"event.decis')  # a crash in the middle of a write
    # Reopened on rules with one file edited: the start also writes rules.changed.
    edited = config.data_dir.parent / "rules-edited"
    shutil.copytree(config.rules_dir or RULES_DIR, edited)
    with (edited / "segments.yaml").open("a", encoding="utf-8") as rules:
        rules.write("# reviewed\n")
    reopened = make_pipeline(recorder, rules_dir=edited)
    # Records the log writes itself (the repair) reach no observer: read them from disk.
    seen = {record["seq"]: record for record in recorder.records}
    return [seen.get(record["seq"], record) for record in audit_records(reopened)]


def normalized(records: list[dict[str, Any]]) -> list[str]:
    """One JSON text per record, keys in written order, without what differs between
    runs: the writer's ``ts`` and the random double opt-in request ids."""
    requests: dict[str, str] = {}
    texts = []
    for record in records:
        cleaned = {k: v for k, v in record.items() if k != "ts"}
        if isinstance(cleaned.get("request"), str):
            cleaned["request"] = requests.setdefault(cleaned["request"],
                                                     f"<request {len(requests)}>")
        texts.append(json.dumps(cleaned, ensure_ascii=False))
    return texts


def kinds_written(records: list[dict[str, Any]]) -> set[str]:
    return {str(record["kind"]) for record in records}
