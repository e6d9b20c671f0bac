"""Hostile webhook bodies are the client's mistake (400), never a server error, and
change nothing."""

from __future__ import annotations

import pytest

from tests.callbacks.conftest import USER, Client

DEEP = b'{"updates": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
BODIES = {
    "deeply nested": DEEP,
    "lone surrogate in an id": (b'{"subject_id": "' + USER.encode() + b'\\ud800", '
                                b'"captured_at": "2026-11-20T10:00:00Z", "source": "pc", '
                                b'"purposes": {"marketing": true}}'),
    "NUL in a key": (b'{"subject_id": "u", "captured_at": "2026-11-20T10:00:00Z", '
                     b'"source": "pc", "purposes": {"market\\u0000ing": true}}'),
    "NaN": b'{"subject_id": "u", "captured_at": "2026-11-20T10:00:00Z", "x": NaN}',
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_hostile_preferences_body_is_a_400(client: Client, name: str) -> None:
    response = client.request("POST", "/v1/preferences", BODIES[name])
    assert response.status == 400, response.body
    assert response.json["error"] == "invalid_json"
    assert client.current() == {}


def test_a_hostile_confirmation_body_is_a_400(client: Client) -> None:
    response = client.request("POST", "/v1/double-opt-in/confirm", DEEP, sign=False)
    assert response.status == 400 and response.json["error"] == "invalid_body"
