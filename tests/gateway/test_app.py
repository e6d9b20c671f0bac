"""The gateway's answers: what SDKs retry, what they must not, and what is committed first."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from cdp_plugin.errors import StorageError
from cdp_plugin.gateway.app import GatewayApp
from cdp_plugin.gateway.settings import GatewaySettings
from tests.conftest import MakePipeline, audit_records, message_keys
from tests.events import ALL_DENIED, ALL_GRANTED, track
from tests.gateway.conftest import WRITE_KEY

AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def _call(app: GatewayApp, path: str, payload: Any = None, *, method: str = "POST",
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    body = json.dumps(payload).encode() if payload is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), "HTTP_AUTHORIZATION": AUTH,
               **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()}}
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)

    chunks = app(environ, start_response)
    return answer["status"], answer["headers"], json.loads(b"".join(chunks))


@pytest.fixture
def app(make_pipeline: MakePipeline) -> GatewayApp:
    return GatewayApp(make_pipeline(), GatewaySettings((WRITE_KEY,), retry_after_seconds=7))


def test_everything_accepted_is_200_even_when_dropped_or_invalid(app: GatewayApp) -> None:
    batch = [track("m-ok", consent=ALL_GRANTED), track("m-denied", consent=ALL_DENIED),
             {"type": "track", "messageId": "m-bad"}]
    status, headers, body = _call(app, "/v1/batch", {"batch": batch})
    assert (status, body) == (200, {"success": True})
    assert headers["Access-Control-Allow-Origin"] == "*"
    actions = {r["message_id"]: r["action"] for r in audit_records(app.pipeline,
                                                                   "event.decision")}
    ok, denied = message_keys(app.pipeline, "m-ok", "m-denied")
    assert (actions[ok], actions[denied]) == ("allow", "drop")
    assert len(audit_records(app.pipeline, "event.invalid")) == 1


def test_an_unavailable_store_is_503_with_retry_after_and_commits_nothing(
        app: GatewayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    store = app.pipeline.runtime.store

    def failing(*args: Any, **kwargs: Any) -> bool:
        raise StorageError("remember_message failed: disk I/O")

    monkeypatch.setattr(store, "remember_message", failing)
    status, headers, body = _call(app, "/v1/track", track("m-later", consent=ALL_GRANTED))
    assert (status, headers["Retry-After"], body["code"]) == (503, "7", "unavailable")
    monkeypatch.undo()
    assert audit_records(app.pipeline, "event.decision") == []
    # The SDK's retry is then decided once.
    assert _call(app, "/v1/track", track("m-later", consent=ALL_GRANTED))[0] == 200
    assert len(audit_records(app.pipeline, "event.decision")) == 1


def test_global_privacy_control_from_the_browser_reaches_the_pipeline(app: GatewayApp) -> None:
    event = track("m-gpc", event="Product Viewed", consent={"Advertising": True,
                                                            "Analytics": True})
    event["context"]["location"] = {"country": "US", "region": "US-CA"}
    assert _call(app, "/v1/track", event, headers={"Sec-GPC": "1"})[0] == 200
    [decision] = audit_records(app.pipeline, "event.decision")
    assert decision["consent"]["advertising"] == "denied"


def test_preflight_health_and_wrong_methods(app: GatewayApp) -> None:
    status, headers, _ = _call(app, "/v1/batch", method="OPTIONS")
    assert status == 200 and "Authorization" in headers["Access-Control-Allow-Headers"]
    assert _call(app, "/v1/health", method="GET")[0] == 200
    assert _call(app, "/v1/batch", method="GET")[0] == 405
    assert _call(app, "/v2/batch", {})[0] == 404


def test_metrics_count_requests_and_outcomes_with_bounded_labels(app: GatewayApp) -> None:
    batch = [track("m-1", consent=ALL_GRANTED), track("m-2", consent={"jane@example.com": True}),
             {"type": "track", "messageId": "m-3"}]
    assert _call(app, "/v1/batch", {"batch": batch})[0] == 200
    _call(app, "/v1/batch", {"batch": []}, headers={"Authorization": "Basic bm9wZTo="})
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "wsgi.input": io.BytesIO()}
    seen: dict[str, Any] = {}
    text = b"".join(app(environ, lambda status, headers: seen.update(status=status))).decode()
    assert seen["status"].startswith("200")
    assert 'cdp_gateway_requests_total{route="batch",status="200"} 1.0' in text
    assert 'cdp_gateway_requests_total{route="batch",status="401"} 1.0' in text
    assert "cdp_gateway_messages_accepted_total 3.0" in text
    assert 'cdp_gateway_outcomes_total{reason="consent.granted",status="forwarded"} 1.0' in text
    assert 'cdp_gateway_outcomes_total{reason="invalid",status="invalid"} 1.0' in text
    assert "jane" not in text and "cdp_gateway_commit_seconds_count 1.0" in text


def test_a_pipeline_busy_beyond_its_bound_is_503_not_a_hang(make_pipeline: MakePipeline
                                                           ) -> None:
    app = GatewayApp(make_pipeline(), GatewaySettings((WRITE_KEY,), retry_after_seconds=2,
                                                      busy_seconds=0.2))
    with app.lock:  # another request holds the pipeline
        status, headers, body = _call(app, "/v1/track", track("m-busy", consent=ALL_GRANTED))
    assert (status, headers["Retry-After"], body["code"]) == (503, "2", "busy")
    assert audit_records(app.pipeline, "event.decision") == []
    assert _call(app, "/v1/track", track("m-busy", consent=ALL_GRANTED))[0] == 200
