"""Standard Webhooks signatures: verifying requests, signing our own.

A request carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64>`` entries, each the
HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under one secret. A secret is
written ``whsec_<base64 of the key>``. Several secrets may be active at once,
so a sender can rotate: a request passes if any signature matches any secret.
Replays inside the tolerance window are caught by the caller, which stores
the ids (see :func:`request_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cdp_plugin.errors import CdpPluginError, ConfigError

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
_ID = re.compile(r"[\x21-\x7e]{1,256}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURES = 16  # bounds the work one request can cause


class WebhookAuthError(CdpPluginError):
    """A request failed authentication; ``reason`` is a stable code:
    ``missing_headers``, ``malformed_headers``, ``stale_timestamp`` or
    ``bad_signature``. The message never quotes header values."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook authentication failed: {reason}")


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """An authenticated request: its id, its timestamp, and which secret
    (position in the configured list) signed it."""

    webhook_id: str
    timestamp: int
    secret_index: int


def parse_secret(text: str, source: str) -> bytes:
    """The key of a ``whsec_`` secret; raises ConfigError naming ``source``."""
    if not text.startswith(SECRET_PREFIX):
        raise ConfigError(f"{source}: a webhook secret starts with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source}: a webhook secret is {SECRET_PREFIX} and base64") from None
    if len(key) < 16:
        raise ConfigError(f"{source}: a webhook secret needs at least 16 bytes of key")
    return key


def new_secret() -> str:
    """A fresh random ``whsec_`` secret (32 bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _mac(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of ``body`` under ``secret``."""
    key = parse_secret(secret, "secret")
    return "v1," + base64.b64encode(_mac(key, webhook_id, timestamp, body)).decode("ascii")


IDEMPOTENCY_HEADER = "Idempotency-Key"
"""Sent beside the Standard Webhooks headers: the same key on every retry of one
message, so a destination that sees it twice applies it once."""


def signed_headers(secret: str, body: bytes, webhook_id: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    """The three headers a sender adds to ``body`` (a fresh id and now by default)."""
    webhook_id = webhook_id or "msg_" + secrets.token_hex(12)
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {ID_HEADER: webhook_id, TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, webhook_id, timestamp, body)}


def request_digest(key: bytes, method: str, path: str, body: bytes) -> str:
    """What a stored webhook id is bound to: the method, path and body it came with.

    Keyed, because a path can hold a subject id: a plain hash of it could be
    confirmed by guessing the id.
    """
    digest = hmac.new(key, f"{method} {path}\n".encode(), hashlib.sha256)
    digest.update(body)
    return digest.hexdigest()


class WebhookVerifier:
    """Checks Standard Webhooks signatures against the active secrets.

    Raises ConfigError at construction if there is no secret or one is malformed.
    """

    def __init__(self, secrets: Sequence[str], tolerance_seconds: int = 300) -> None:
        if not secrets:
            raise ConfigError("webhook secrets: none configured; set CDP_PLUGIN_WEBHOOK_SECRETS "
                              "or plugins.callbacks.webhook_secrets")
        self._keys = [parse_secret(s, f"webhook secret {n + 1}") for n, s in enumerate(secrets)]
        self.tolerance = tolerance_seconds

    def verify(self, headers: Mapping[str, str], body: bytes,
               now: float | None = None) -> WebhookMessage:
        """Authenticate ``body`` by its headers (lower-case names).

        Raises :class:`WebhookAuthError`: headers missing or malformed, a
        timestamp further than the tolerance from ``now``, or no signature
        that matches an active secret.
        """
        webhook_id = headers.get(ID_HEADER)
        stamp = headers.get(TIMESTAMP_HEADER)
        given = headers.get(SIGNATURE_HEADER)
        if not webhook_id or not stamp or not given:
            raise WebhookAuthError("missing_headers")
        if not _ID.fullmatch(webhook_id) or not _TIMESTAMP.fullmatch(stamp):
            raise WebhookAuthError("malformed_headers")
        timestamp = int(stamp)
        if abs((time.time() if now is None else now) - timestamp) > self.tolerance:
            raise WebhookAuthError("stale_timestamp")
        signatures = []
        for entry in given.split(" ")[:_MAX_SIGNATURES]:
            version, _, encoded = entry.partition(",")
            if version != "v1":
                continue  # other schemes (v1a) are not ours to check
            try:
                signatures.append(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError):
                continue
        for index, key in enumerate(self._keys):
            expected = _mac(key, webhook_id, timestamp, body)
            # Every candidate is compared, so timing does not tell which one matched.
            if sum(hmac.compare_digest(expected, s) for s in signatures):
                return WebhookMessage(webhook_id, timestamp, index)
        raise WebhookAuthError("bad_signature")
