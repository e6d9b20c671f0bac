"""The real Segment and RudderStack SDKs post to the gateway; the gateway delivers to
``segment`` targets (capture servers speaking the batch API) in the background.
What arrives downstream is what consent allows, minimized, at least once."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from tests.conftest import audit_records, message_keys
from tests.events import ALL_GRANTED, track
from tests.gateway.conftest import WRITE_KEY, Downstream, fail_dedup, track_with_the_sdk

PLACE = {"location": {"country": "DE"}}
EVERYTHING = {**PLACE, "ip": "198.51.100.23", "consent": {"categoryPreferences": {
    "Analytics": True, "Personalization": True, "Marketing": True}}}
ANALYTICS = {**PLACE, "consent": {"categoryPreferences": {"Analytics": True,
                                                         "Marketing": False}}}
EMAIL = "downstream@example.com"


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["messageId"] for e in events]


def test_sdk_events_arrive_downstream_minimized_and_only_with_consent(
        downstream: Downstream) -> None:
    segment = SegmentClient(WRITE_KEY, host=downstream.url, sync_mode=True)
    segment.identify("user-ds-1", {"email": EMAIL, "plan": "pro"}, context=EVERYTHING,
                     message_id="ds-identify")
    segment.track("user-ds-1", "Order Completed", {"revenue": 9, "note": "call +49 151 2345678"},
                  context=EVERYTHING, message_id="ds-order",
                  integrations={"All": False, "Mixpanel": True,
                                "Amplitude": {"session_id": 1717}})
    segment.track("user-ds-2", "Order Completed", {"revenue": 4}, context=ANALYTICS,
                  message_id="ds-analytics")
    segment.track("user-ds-3", "Order Completed", context=PLACE, message_id="ds-unknown")
    rudder = RudderClient(WRITE_KEY, downstream.url, sync_mode=True, gzip=True)
    rudder.track("user-ds-4", "Order Completed", {"revenue": 2}, context={
        **PLACE, "consentManagement": {"allowedConsentIds": [], "deniedConsentIds": [
            "analytics", "marketing", "personalization"]}}, message_id="ds-denied")
    rudder.track("user-ds-5", "Order Completed", {"revenue": 5}, context={
        **PLACE, "consentManagement": {"allowedConsentIds": ["analytics"],
                                       "deniedConsentIds": ["marketing"]}},
        message_id="ds-rudder")
    downstream.wait_for(esp=2, warehouse=3)
    esp, warehouse = downstream.esp.events(), downstream.warehouse.events()
    assert sorted(set(_ids(esp))) == ["ds-identify", "ds-order"]
    assert sorted(set(_ids(warehouse))) == ["ds-analytics", "ds-order", "ds-rudder"]
    identify = next(e for e in esp if e["messageId"] == "ds-identify")
    assert identify["traits"] == {"email": EMAIL}  # what the esp's own rules keep
    order = next(e for e in warehouse if e["messageId"] == "ds-order")
    assert order["integrations"] == {"All": False, "Mixpanel": True}
    assert order["context"]["consent"] == {"categoryPreferences": {  # advertising: unknown
        "analytics": True, "marketing": True, "necessary": True, "personalization": True}}
    everything = json.dumps(esp + warehouse)
    assert "198.51.100.23" not in everything and "+49 151" not in everything
    assert EMAIL not in json.dumps(warehouse)
    assert all(r.headers["x-answered"] == "200" for r in downstream.esp.received)
    delivered = audit_records(downstream.pipeline, "delivery.delivered")
    assert {r["destination"] for r in delivered} == {"esp", "warehouse"}


def test_retries_on_both_sides_never_deliver_what_was_not_sent_twice_with_its_id(
        downstream: Downstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's store fails twice (the SDK retries its 503s) and the esp
    answers 503 then 500 (the sender retries): every event arrives, under its
    own messageId, at least once and in the order it was accepted."""
    failures = fail_dedup(monkeypatch, downstream.pipeline)
    downstream.esp.script = [(503, {"Retry-After": "1"}), 500]
    ids = [f"ds-retry-{n:02d}" for n in range(25)]
    errors = track_with_the_sdk(downstream.url, "user-ds-r", ids, EVERYTHING)
    assert errors == [] and failures["left"] == 0
    downstream.wait_for(esp=25, warehouse=25)
    arrived = _ids(downstream.esp.events())
    assert set(arrived) == set(ids)
    # One subject: it arrives in the order the gateway accepted it, across retries.
    by_key = dict(zip(message_keys(downstream.pipeline, *ids), ids, strict=True))
    accepted = [by_key[r["message_id"]]
                for r in audit_records(downstream.pipeline, "event.decision")]
    assert list(dict.fromkeys(arrived)) == accepted
    assert [n for n in Counter(_ids(downstream.warehouse.events())).values() if n > 1] == []
    answers = [r.headers["x-answered"] for r in downstream.esp.received]
    assert answers[:2] == ["503", "500"]


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_show_queue_depth_deliveries_and_latency(downstream: Downstream) -> None:
    batch = {"batch": [track(f"m-{n}", consent=ALL_GRANTED) for n in range(4)]}
    assert requests.post(f"{downstream.url}/v1/batch", json=batch, auth=(WRITE_KEY, ""),
                         timeout=10).status_code == 200
    downstream.wait_for(esp=4, warehouse=4)
    delivered = {name: ("cdp_delivery_events_total",
                        (("destination", name), ("outcome", "delivered")))
                 for name in ("esp", "warehouse")}
    deadline = time.monotonic() + 10  # the sender settles just after the answer arrives
    samples = _samples(downstream.url)
    while any(samples.get(key) != 4 for key in delivered.values()):
        assert time.monotonic() < deadline, samples
        time.sleep(0.05)
        samples = _samples(downstream.url)
    for name in ("esp", "warehouse"):
        labels = (("destination", name),)
        assert samples[("cdp_delivery_queue_depth", labels)] == 0
        assert samples[("cdp_delivery_latency_seconds_count", labels)] == 4
