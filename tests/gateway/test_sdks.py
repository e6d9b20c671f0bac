"""The real Segment and RudderStack Python SDKs, unmodified, posting to the gateway."""

from __future__ import annotations

from typing import Any

import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError

from cdp_plugin.pipeline import Pipeline
from tests.conftest import audit_records, message_keys
from tests.gateway.conftest import WRITE_KEY, Served, fail_dedup, track_with_the_sdk

GRANTED = {"consent": {"categoryPreferences": {"Analytics": True, "Personalization": True,
                                               "Marketing": True}},
           "location": {"country": "DE"}}


def _decisions(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    return {r["message_id"]: r for r in audit_records(pipeline, "event.decision")}


def test_the_segment_sdk_is_accepted_and_decided(gateway: Served) -> None:
    errors: list[Exception] = []
    client = SegmentClient(WRITE_KEY, host=gateway.url, sync_mode=True,
                           on_error=lambda exc, batch: errors.append(exc))
    client.track("user-seg-1", "Order Completed", {"revenue": 12}, context=GRANTED,
                 message_id="seg-granted")
    client.track("user-seg-2", "Order Completed", {"revenue": 3},
                 context={"location": {"country": "DE"}}, message_id="seg-unknown")
    client.identify(40417, {"plan": "pro"}, context=GRANTED, message_id="seg-numeric")
    assert errors == []
    pipeline = gateway.pipeline
    decisions = _decisions(pipeline)
    granted, unknown, numeric = message_keys(pipeline, "seg-granted", "seg-unknown",
                                             "seg-numeric")
    assert decisions[granted]["action"] == "allow"
    assert decisions[unknown]["action"] == "quarantine"
    assert decisions[numeric]["action"] == "allow"
    store, pseudonym = pipeline.runtime.store, pipeline.runtime.pseudonymizer.subject
    assert store.quarantine_count(pseudonym("user-seg-2")) == 1
    # The numeric user id was sent as a number and is the same subject as its text.
    assert decisions[numeric]["subject"] == pseudonym("40417")


def test_the_rudderstack_sdk_gzipped_batch_is_accepted(gateway: Served) -> None:
    errors: list[Exception] = []
    client = RudderClient(WRITE_KEY, gateway.url, sync_mode=True, gzip=True,
                          on_error=lambda exc, batch: errors.append(exc))
    context = {"location": {"country": "DE"}, "traits": {"email": "rudder@example.com"},
               "consentManagement": {"allowedConsentIds": ["marketing", "personalization"],
                                     "deniedConsentIds": []}}
    client.identify("user-rs-1", context=context, message_id="rs-identify")
    client.page("user-rs-1", name="Home", context={"location": {"country": "DE"}},
                message_id="rs-page")
    assert errors == []
    pipeline = gateway.pipeline
    decisions = _decisions(pipeline)
    identify, page = message_keys(pipeline, "rs-identify", "rs-page")
    assert decisions[identify]["action"] == "allow"
    assert decisions[page]["action"] == "quarantine"
    log = "\n".join(str(r) for r in audit_records(pipeline))
    assert "rudder@example.com" not in log and WRITE_KEY not in log


def test_a_wrong_write_key_is_refused_and_nothing_is_decided(gateway: Served) -> None:
    client = SegmentClient("wk_wrong_000000", host=gateway.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as caught:
        client.track("user-seg-9", "Order Completed", context=GRANTED, message_id="seg-refused")
    assert (caught.value.status, caught.value.code) == (401, "auth.invalid_write_key")
    assert _decisions(gateway.pipeline) == {}


def test_the_sdk_retries_a_503_and_each_message_is_decided_once(
        gateway: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is down for the first two requests; the SDK honours Retry-After
    and retries, and what finally commits is decided once per messageId."""
    failures = fail_dedup(monkeypatch, gateway.pipeline)
    ids = [f"seg-retry-{n}" for n in range(25)]
    errors = track_with_the_sdk(gateway.url, "user-seg-r", ids, GRANTED)
    assert errors == [] and failures["left"] == 0
    decisions = audit_records(gateway.pipeline, "event.decision")
    assert sorted(r["message_id"] for r in decisions) == sorted(
        message_keys(gateway.pipeline, *ids))
