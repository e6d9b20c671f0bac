"""Envelopes as SDKs and attackers send them: authentication, limits, normalization."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_plugin.gateway.envelope import (
    MAX_BATCH_MESSAGES,
    Envelope,
    EnvelopeError,
    basic_write_key,
    parse_envelope,
)

KEY = "wk_live_abcdef12"
NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def _basic(username: str) -> str:
    return "Basic " + base64.b64encode(username.encode()).decode()


def _parse(route: str, payload: Any, *, auth: str | None = _basic(KEY + ":"),
           encoding: str | None = None, raw: bytes | None = None) -> Envelope:
    body = raw if raw is not None else json.dumps(payload).encode()
    return parse_envelope(route, body, authorization=auth, content_encoding=encoding,
                          write_keys=(KEY,), received_at=NOW)


def _refused(route: str, payload: Any, **options: Any) -> tuple[int, str]:
    with pytest.raises(EnvelopeError) as caught:
        _parse(route, payload, **options)
    return caught.value.status, caught.value.reason


def test_batch_context_and_integrations_fill_in_what_a_message_lacks() -> None:
    envelope = _parse("batch", {
        "batch": [{"type": "track", "event": "A", "userId": "u", "messageId": "m1",
                   "context": {"locale": "fr-FR"}, "timestamp": "2026-11-20T11:00:00Z"}],
        "context": {"locale": "de-DE", "ip": "203.0.113.9"},
        "integrations": {"All": False}})
    [message] = envelope.messages
    assert message["context"] == {"locale": "fr-FR", "ip": "203.0.113.9"}
    assert message["integrations"] == {"All": False}
    assert message["receivedAt"] == "2026-11-20T12:00:00Z"
    assert message["timestamp"] == "2026-11-20T11:00:00Z"


def test_the_client_clock_is_corrected_by_sent_at() -> None:
    """The client's clock ran 1 h 59 m 50 s slow; the event happened 10 s before sending."""
    envelope = _parse("batch", {"sentAt": "2026-11-20T10:00:10Z", "batch": [
        {"type": "track", "event": "A", "userId": "u", "originalTimestamp":
         "2026-11-20T10:00:00Z"},
        {"type": "track", "event": "A", "userId": "u", "originalTimestamp": "garbage"},
        {"type": "track", "event": "A", "userId": "u"}]})
    first, second, third = envelope.messages
    assert first["timestamp"] == "2026-11-20T11:59:50Z"
    assert second["timestamp"] == third["timestamp"] == "2026-11-20T12:00:00Z"
    assert len({m["messageId"] for m in envelope.messages}) == 3


def test_hostile_client_times_do_not_break_normalization() -> None:
    envelope = _parse("batch", {"sentAt": "0001-01-01T00:00:00Z", "batch": [
        {"type": "track", "event": "A", "userId": "u",
         "originalTimestamp": "9999-12-31T23:59:59Z"}]})
    assert envelope.messages[0]["timestamp"] == "9999-12-31T23:59:59Z"


def test_numeric_ids_become_text_and_context_traits_count_for_identify() -> None:
    envelope = _parse("identify", {"userId": 42, "anonymousId": 7.0, "traits": {"plan": "pro"},
                                   "context": {"traits": {"plan": "free", "tier": 2}}})
    [message] = envelope.messages
    assert (message["type"], message["userId"], message["anonymousId"]) == (
        "identify", "42", "7")
    assert message["traits"] == {"plan": "pro", "tier": 2}
    [track] = _parse("track", {"userId": True, "event": "A",
                               "context": {"traits": {"x": 1}}}).messages
    assert track["userId"] is True and "traits" not in track


def test_the_write_key_comes_from_basic_auth_or_the_body_and_is_never_kept() -> None:
    assert basic_write_key(_basic(KEY)) == KEY
    assert basic_write_key(_basic(KEY + ":")) == KEY
    assert basic_write_key("Basic !!!") is None and basic_write_key("Bearer x") is None
    [message] = _parse("t", {"writeKey": KEY, "event": "A", "userId": "u"}, auth=None).messages
    assert "writeKey" not in message and message["type"] == "track"
    batch = _parse("b", {"writeKey": KEY, "batch": [{"type": "page", "writeKey": KEY,
                                                     "userId": "u"}]}, auth=None)
    assert "writeKey" not in batch.messages[0]


@pytest.mark.parametrize("auth", [None, _basic("wk_wrong_key_00:"), _basic(""), "Basic",
                                  _basic(KEY[:-1])])
def test_a_missing_or_wrong_write_key_is_401(auth: str | None) -> None:
    assert _refused("track", {"event": "A", "userId": "u"}, auth=auth) == (
        401, "auth.invalid_write_key")


def test_gzip_is_accepted_and_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    body = json.dumps({"batch": [{"type": "track", "event": "A", "userId": "u"}]}).encode()
    assert len(_parse("batch", None, raw=gzip.compress(body), encoding="gzip").messages) == 1
    bomb = gzip.compress(b" " * (50 * 1024 * 1024))
    assert _refused("batch", None, raw=bomb, encoding="gzip") == (413, "body.too_large")
    assert _refused("batch", None, raw=gzip.compress(body)[:-9], encoding="gzip") == (
        400, "body.gzip_invalid")
    assert _refused("batch", None, raw=body, encoding="br") == (415, "body.encoding_unsupported")


@pytest.mark.parametrize(("route", "raw", "expected"), [
    ("batch", b"{broken", (400, "body.invalid_json")),
    ("batch", b'{"batch": [{"type": "track", "x": NaN}]}', (400, "body.invalid_json")),
    ("batch", b"[" * 100_000, (400, "body.invalid_json")),
    ("batch", b'["not", "an", "object"]', (400, "body.not_an_object")),
    ("batch", b'{"batch": {"type": "track"}}', (400, "batch.not_a_list")),
    ("delete", b"{}", (404, "route.unknown")),
    ("batch", json.dumps({"batch": [{"type": "track"}] * (MAX_BATCH_MESSAGES + 1)}).encode(),
     (400, "batch.too_many_messages")),
    ("track", json.dumps({"event": "A", "properties": {"x": "y" * 33_000}}).encode(),
     (400, "message.too_large")),
    ("batch", b" " * (501 * 1024), (413, "body.too_large")),
])
def test_unusable_requests_are_refused_with_a_reason(route: str, raw: bytes,
                                                     expected: tuple[int, str]) -> None:
    assert _refused(route, None, raw=raw) == expected


def test_malformed_messages_are_passed_on_for_the_pipeline_to_reject() -> None:
    envelope = _parse("batch", {"batch": ["text", None, {"type": "nope"}]})
    assert envelope.messages[:2] == ("text", None)
    assert envelope.messages[2]["type"] == "nope"
