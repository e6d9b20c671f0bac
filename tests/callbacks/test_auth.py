"""Standard Webhooks authentication: the verifier, and the signature matrix at the endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from cdp_plugin.callbacks.auth import (
    WebhookAuthError,
    WebhookVerifier,
    new_secret,
    parse_secret,
    sign,
    signed_headers,
)
from cdp_plugin.errors import ConfigError
from tests.callbacks.conftest import T0, Client, MakeClient, encode, update
from tests.conftest import audit_records

# The example of the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _vector_headers(signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
            "webhook-signature": signature}


def test_signature_matches_the_reference_example() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    verifier = WebhookVerifier([VECTOR_SECRET])
    message = verifier.verify(_vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP + 10)
    assert (message.webhook_id, message.timestamp) == (VECTOR_ID, VECTOR_TIMESTAMP)


def test_any_active_secret_verifies_and_is_named_by_position() -> None:
    old, new = new_secret(), new_secret()
    verifier = WebhookVerifier([new, old])
    headers = signed_headers(old, b"{}")
    assert verifier.verify(headers, b"{}").secret_index == 1
    # A sender mid-rotation signs with both; one matching signature is enough.
    both = signed_headers(new, b"{}")
    both["webhook-signature"] += " " + sign(old, both["webhook-id"],
                                            int(both["webhook-timestamp"]), b"{}")
    assert verifier.verify(both, b"{}").secret_index == 0


@pytest.mark.parametrize("offset, accepted", [(-299, True), (299, True), (-301, False),
                                              (301, False)])
def test_timestamps_are_accepted_within_five_minutes(offset: int, accepted: bool) -> None:
    verifier = WebhookVerifier([VECTOR_SECRET])
    now = VECTOR_TIMESTAMP - offset
    if accepted:
        verifier.verify(_vector_headers(), VECTOR_BODY, now=now)
    else:
        with pytest.raises(WebhookAuthError) as raised:
            verifier.verify(_vector_headers(), VECTOR_BODY, now=now)
        assert raised.value.reason == "stale_timestamp"


def test_unknown_signature_versions_and_garbage_are_ignored() -> None:
    verifier = WebhookVerifier([VECTOR_SECRET])
    mixed = f"v1a,abc v1,not-base64!! {VECTOR_SIGNATURE}"
    verifier.verify(_vector_headers(mixed), VECTOR_BODY, now=VECTOR_TIMESTAMP)
    with pytest.raises(WebhookAuthError, match="bad_signature"):
        verifier.verify(_vector_headers("v1a,abc v2," + VECTOR_SIGNATURE[3:]), VECTOR_BODY,
                        now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("text", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_***", "whsec_AAAA"])
def test_malformed_secrets_are_refused_without_quoting_them(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_secret(text, "CDP_PLUGIN_WEBHOOK_SECRETS (entry 2)")
    assert "entry 2" in str(raised.value)
    assert text not in str(raised.value)


def test_a_verifier_needs_a_secret() -> None:
    with pytest.raises(ConfigError, match="CDP_PLUGIN_WEBHOOK_SECRETS"):
        WebhookVerifier([])


# --- the signature matrix: each case is refused and applies nothing -----------------

Tamper = Callable[[Client, bytes], tuple[bytes, dict[str, str]]]


def _wrong_secret(client: Client, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(new_secret(), body)


def _stale(client: Client, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(client.secret, body, timestamp=int(time.time()) - 301)


def _future(client: Client, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(client.secret, body, timestamp=int(time.time()) + 301)


def _one_byte_changed(client: Client, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(client.secret, body)
    tampered = bytearray(body)
    tampered[body.index(b"denied") if b"denied" in body else body.index(b"granted")] ^= 0x20
    return bytes(tampered), headers


def _missing(name: str) -> Tamper:
    def tamper(client: Client, body: bytes) -> tuple[bytes, dict[str, str]]:
        headers = signed_headers(client.secret, body)
        headers[name] = ""
        return body, headers
    return tamper


def _signed_for_another_id(client: Client, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(client.secret, body, webhook_id="msg_original")
    headers["webhook-id"] = "msg_other"
    return body, headers


def _replayed_id(client: Client, body: bytes) -> tuple[bytes, dict[str, str]]:
    # The id was already spent on a different request; a valid signature
    # over this body does not make the id reusable.
    first = encode(update(T0 - timedelta(days=1), purposes={"analytics": "denied"}))
    spent = signed_headers(client.secret, first)
    assert client.request("POST", "/v1/preferences", first, headers=spent,
                          sign=False).status == 200
    return body, signed_headers(client.secret, body, webhook_id=spent["webhook-id"])


MATRIX: dict[str, Tamper] = {
    "wrong_secret": _wrong_secret,
    "stale_timestamp": _stale,
    "future_timestamp": _future,
    "body_changed_by_one_byte": _one_byte_changed,
    "missing_webhook_id": _missing("webhook-id"),
    "missing_webhook_timestamp": _missing("webhook-timestamp"),
    "missing_webhook_signature": _missing("webhook-signature"),
    "signature_on_another_id": _signed_for_another_id,
    "replayed_id": _replayed_id,
}


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_signature_matrix_refuses_with_401_and_applies_nothing(
        make_client: MakeClient, case: str) -> None:
    client = make_client()
    body = encode(update(T0, purposes={"marketing": "granted"}, channels={"email": "granted"}))
    sent, headers = MATRIX[case](client, body)
    before = client.grants()
    audited = len(audit_records(client.pipeline))

    response = client.request("POST", "/v1/preferences", sent, headers=headers, sign=False)

    assert response.status == 401
    assert response.json["error"] == "unauthorized"
    assert client.grants() == before
    assert ("purpose", "marketing") not in client.grants()
    assert len(audit_records(client.pipeline)) == audited


def test_one_byte_tamper_really_changes_one_byte(client: Client) -> None:
    body = encode(update(T0, purposes={"marketing": "granted"}))
    tampered, _ = _one_byte_changed(client, body)
    assert len(tampered) == len(body)
    assert sum(a != b for a, b in zip(tampered, body, strict=True)) == 1


def test_export_and_erase_need_a_signature_too(client: Client) -> None:
    export = client.subject_request("access", "u-1", sign=False)
    erase = client.subject_request("erasure", "u-1", sign=False)
    assert (export.status, erase.status) == (401, 401)
    assert export.json["reason"] == erase.json["reason"] == "missing_headers"
