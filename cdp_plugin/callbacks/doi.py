"""Double opt-in: a channel grant counts only once the subject confirms it.

Where it is required (:class:`~cdp_plugin.callbacks.settings.DoubleOptInSettings`),
a grant of the channel is kept out of the consent ledger and stored as a
pending request instead, and a token is issued for the confirmation message
the preference center sends. The token is
``v1.<base64url(request id || expiry)>.<base64url(HMAC-SHA256)>``: it names
no subject, and its key is derived from the master key (HKDF label
``double-opt-in/v1``; tokens made under any listed master key verify, so a
rotation does not void pending requests). Confirming appends the grant to
the ledger, captured at the confirmation time. A later denial of the channel
cancels pending requests it post-dates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_plugin.audit.records import OptinCancelled, OptinConfirmed, OptinRequested
from cdp_plugin.callbacks.settings import DoubleOptInSettings
from cdp_plugin.keys.master import MasterKeys, derive_key
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.storage.base import ConsentRecord
from cdp_plugin.types import ConsentUpdate

TOKEN_VERSION = "v1"
SOURCE = "double_opt_in"
_LABEL = "double-opt-in/v1"
_ID_BYTES = 16
_MAX_TOKEN = 200


class InvalidToken(ValueError):
    """The token is malformed or its signature does not verify."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A confirmation request: the channel, the token to send, when it expires."""

    channel: str
    token: str
    expires_at: datetime
    confirm_url: str | None = None


class OptInTokens:
    """Signs and checks confirmation tokens with keys derived from the master keys."""

    def __init__(self, master_keys: MasterKeys) -> None:
        self._keys = [derive_key(key.secret, _LABEL) for key in master_keys]

    def issue(self, token_id: str, expires_at: datetime) -> str:
        body = bytes.fromhex(token_id) + struct.pack(">q", int(expires_at.timestamp()))
        payload = f"{TOKEN_VERSION}.{_b64(body)}"
        return f"{payload}.{_b64(self._mac(self._keys[0], payload))}"

    def read(self, token: str) -> tuple[str, datetime]:
        """The request id and expiry a token names; raises :class:`InvalidToken`."""
        if len(token) > _MAX_TOKEN or token.count(".") != 2:
            raise InvalidToken("malformed token")
        version, body_text, mac_text = token.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise InvalidToken("malformed token") from None
        if version != TOKEN_VERSION or len(body) != _ID_BYTES + 8:
            raise InvalidToken("malformed token")
        payload = f"{version}.{body_text}"
        if not sum(hmac.compare_digest(self._mac(key, payload), mac) for key in self._keys):
            raise InvalidToken("the token's signature does not verify")
        (expiry,) = struct.unpack(">q", body[_ID_BYTES:])
        return body[:_ID_BYTES].hex(), datetime.fromtimestamp(expiry, UTC)

    @staticmethod
    def _mac(key: bytes, payload: str) -> bytes:
        return hmac.new(key, payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url, accepting only the one canonical spelling: the
    decoder would otherwise skip stray characters and ignore the unused low bits
    of the last character, so many texts would name one token."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def request_confirmation(pipeline: Pipeline, settings: DoubleOptInSettings, subject_key: str,
                         channel: str, update: ConsentUpdate, now: datetime) -> IssuedToken:
    """Store a pending request for ``channel`` and audit it (inside the
    caller's unit of work); return the token to send the subject."""
    token_id = secrets.token_hex(_ID_BYTES)
    expires_at = now + timedelta(hours=settings.token_ttl_hours)
    details: dict[str, Any] = {"source": update.source, "notice_version": update.notice_version,
                               "proof": dict(update.proof)}
    pipeline.runtime.store.optin_add(token_id, subject_key, channel, update.captured_at,
                                     expires_at, details)
    pipeline.hooks.audit(OptinRequested(subject_key, channel, token_id, expires_at))
    token = OptInTokens(pipeline.runtime.pseudonymizer.master_keys).issue(token_id, expires_at)
    url = settings.confirm_url.replace("{token}", token) if settings.confirm_url else None
    return IssuedToken(channel, token, expires_at, url)


def cancel_requests(pipeline: Pipeline, subject_key: str, channel: str,
                    denied_at: datetime, now: datetime) -> int:
    """Cancel pending requests for ``channel`` captured at or before a denial
    captured at ``denied_at`` (inside the caller's unit of work)."""
    cancelled = pipeline.runtime.store.optin_cancel(subject_key, channel, denied_at, now)
    if cancelled:
        pipeline.hooks.audit(OptinCancelled(subject_key, channel, cancelled))
    return cancelled


def confirm(pipeline: Pipeline, token: str, now: datetime) -> str:
    """Confirm a request (inside the caller's unit of work); returns the outcome:
    ``confirmed``, ``already_confirmed``, ``cancelled``, ``expired`` or ``unknown``
    (a well-signed token whose request is gone, as after an erasure).

    Raises :class:`InvalidToken` for a token that is malformed or forged.
    """
    store = pipeline.runtime.store
    token_id, expires_at = OptInTokens(pipeline.runtime.pseudonymizer.master_keys).read(token)
    request = store.optin_get(token_id)
    if request is None:
        return "unknown"
    if request.status != "pending":
        return "already_confirmed" if request.status == "confirmed" else "cancelled"
    if now > min(expires_at, request.expires_at):
        return "expired"
    store.optin_settle(token_id, "confirmed", now)
    details = request.details
    proof = {str(k): str(v) for k, v in dict(details.get("proof") or {}).items()}
    store.append_consent(ConsentRecord(
        subject_key=request.subject_key, source=SOURCE, captured_at=now, received_at=now,
        purposes={}, channels={request.channel: True},
        notice_version=details.get("notice_version"), proof={**proof, "optin_request": token_id},
    ))
    pipeline.hooks.audit(OptinConfirmed(request.subject_key, request.channel, token_id,
                                        details.get("source")))
    return "confirmed"
