"""The jsonl delivery target: what each destination receives, durably, before the 200."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from segment.analytics import Client as SegmentClient

from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.gateway.app import GatewayApp
from cdp_plugin.gateway.delivery import load_delivery
from cdp_plugin.gateway.settings import GatewaySettings
from cdp_plugin.rules.loader import load_rules
from tests.conftest import RULES_DIR, MakePipeline
from tests.gateway.conftest import WRITE_KEY, serving

RULES = load_rules(RULES_DIR).purposes
EMAIL = "delivered@example.com"


@pytest.fixture
def served(make_pipeline: MakePipeline, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    config = Config(delivery={"esp": {"kind": "jsonl", "path": str(tmp_path / "esp.jsonl")},
                              "warehouse": {"kind": "jsonl",
                                            "path": str(tmp_path / "warehouse.jsonl")}})
    targets = load_delivery(config, RULES)
    app = GatewayApp(make_pipeline(), GatewaySettings((WRITE_KEY,)), targets=targets)
    try:
        with serving(app) as url:
            yield url, tmp_path
    finally:
        for target in targets.values():
            target.close()


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
    ({"esp": {"kind": "segment", "url": "http://127.0.0.1:1"}}, "delivery.esp.kind: 'segment'"),
    ({"esp": {"kind": "jsonl"}}, "delivery.esp.path: required"),
    ({"esp": {"kind": "jsonl", "path": "x", "secret": "s"}}, "delivery.esp.secret: unknown"),
    ({"esp": "jsonl"}, "delivery.esp: must be a mapping"),
])
def test_a_bad_delivery_section_names_the_key(section: dict[str, object], message: str,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_delivery(Config(delivery=section), RULES)
    assert message in str(caught.value)


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
