"""The jsonl delivery target: what each destination receives, durably, before the 200."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from segment.analytics import Client as SegmentClient

from cdp_plugin.config import Config
from cdp_plugin.delivery.config import plan_for
from cdp_plugin.errors import ConfigError
from cdp_plugin.gateway.app import GatewayApp
from cdp_plugin.gateway.settings import GatewaySettings
from tests.conftest import MakePipeline
from tests.gateway.conftest import WRITE_KEY, serving

EMAIL = "delivered@example.com"


@pytest.fixture
def served(make_pipeline: MakePipeline, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    config = Config(delivery={"esp": {"kind": "jsonl", "path": str(tmp_path / "esp.jsonl")},
                              "warehouse": {"kind": "jsonl",
                                            "path": str(tmp_path / "warehouse.jsonl")}})
    pipeline = make_pipeline()
    plan = plan_for(pipeline, config)
    app = GatewayApp(pipeline, GatewaySettings((WRITE_KEY,)), plan=plan)
    try:
        with serving(app) as url:
            yield url, tmp_path
    finally:
        plan.close()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_each_destination_receives_only_what_its_purposes_allow(
        served: tuple[str, Path]) -> None:
    url, tmp_path = served
    client = SegmentClient(WRITE_KEY, host=url, sync_mode=True)
    where = {"location": {"country": "DE"}}
    everything = {**where, "consent": {"categoryPreferences": {
        "Analytics": True, "Personalization": True, "Marketing": True}}}
    client.identify("user-d-1", {"email": EMAIL, "plan": "pro"}, context=everything,
                    message_id="d-identify")
    client.track("user-d-1", "Order Completed", {"revenue": 9}, context=everything,
                 message_id="d-order")
    analytics_only = {**where, "consent": {"categoryPreferences": {"Analytics": True,
                                                                   "Marketing": False}}}
    client.track("user-d-2", "Order Completed", {"revenue": 4}, context=analytics_only,
                 message_id="d-analytics")
    client.track("user-d-3", "Order Completed", context=where, message_id="d-unknown")
    # The 200s above were sent after the files were synced: read them now.
    esp = _lines(tmp_path / "esp.jsonl")
    warehouse = _lines(tmp_path / "warehouse.jsonl")
    assert [e["messageId"] for e in esp] == ["d-identify", "d-order"]
    assert esp[0]["traits"] == {"email": EMAIL}  # what the esp's own rules keep
    assert [e["messageId"] for e in warehouse] == ["d-order", "d-analytics"]
    assert EMAIL not in (tmp_path / "warehouse.jsonl").read_text()


@pytest.mark.parametrize(("section", "message"), [
    ({"nowhere": {"kind": "jsonl", "path": "x"}}, "delivery.nowhere: not a destination"),
    ({"esp": {"kind": "kafka"}}, "delivery.esp.kind: 'kafka' is not available; one of "
                                 "jsonl, postgres, segment, webhook"),
    ({"esp": {"kind": "jsonl"}}, "delivery.esp.path: Missing data for required field"),
    ({"esp": {"kind": "jsonl", "path": "x", "secret": "s"}}, "delivery.esp.secret: Unknown"),
    ({"esp": {"kind": "jsonl", "path": "direct", "retry": {"max_attempts": 3}}},
     "delivery.esp.retry: a jsonl target is written at once"),
    ({"esp": {"kind": "segment", "url": "ftp://x", "write_key": "k"}}, "delivery.esp.url: "),
    ({"esp": {"kind": "segment", "url": "http://127.0.0.1:1"}},
     "delivery.esp.write_key: Missing data"),
    ({"esp": {"kind": "segment", "url": "http://127.0.0.1:1", "write_key": "k",
              "retry": {"max_attempts": 0}}}, "delivery.esp.retry.max_attempts: "),
    ({"esp": {"kind": "webhook", "url": "http://127.0.0.1:1", "secret": "nope"}},
     "delivery.esp.secret: a webhook secret starts with whsec_"),
    ({"esp": {"kind": "postgres", "dsn": "postgresql://u:hunter2@h/db",
              "table": "x; DROP TABLE y"}}, "delivery.esp.table: a table name"),
    ({"esp": "jsonl"}, "delivery.esp: must be a mapping"),
])
def test_a_bad_delivery_section_names_the_key(section: dict[str, object], message: str,
                                              tmp_path: Path, make_pipeline: MakePipeline,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        plan_for(make_pipeline(), Config(delivery=section))
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert not (tmp_path / "x").exists()  # nothing opened for a refused key


def test_what_the_real_sdk_sends_for_no_anonymous_id_and_a_hostile_message_id(
        served: tuple[str, Path]) -> None:
    """segment-analytics-python sends ``"anonymousId": null`` for a user-only call; a
    null id must stay absent (not one shared pseudonym), and an email used as the
    messageId must be pseudonymized, not forwarded or audited raw."""
    url, tmp_path = served
    client = SegmentClient(WRITE_KEY, host=url, sync_mode=True)
    everything = {"location": {"country": "DE"}, "consent": {"categoryPreferences": {
        "Analytics": True, "Personalization": True, "Marketing": True}}}
    for user, message_id in (("user-n-1", "mallory@example.com"), ("user-n-2", "m-plain")):
        client.track(user, "Order Completed", {"revenue": 1}, context=everything,
                     message_id=message_id)
    warehouse = _lines(tmp_path / "warehouse.jsonl")
    assert len(warehouse) == 2
    assert all("anonymousId" not in event for event in warehouse)
    assert warehouse[1]["messageId"] == "m-plain"
    assert "mallory" not in json.dumps(warehouse)
    assert warehouse[0]["messageId"] != warehouse[1]["messageId"]
