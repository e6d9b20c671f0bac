"""Segment HTTP Tracking API envelopes: authentication, limits and normalization.

What arrives is hostile input from SDKs and browsers: every field is checked
before it is trusted, and a whole request is refused (:class:`EnvelopeError`)
only for what makes the request itself unusable (a wrong write key, a body
that is not JSON or is too large). A message that is merely malformed is
passed on, to be rejected with its reason and audited by the pipeline.

Normalization follows what Segment's and RudderStack's own servers do:

* the batch's ``context`` and ``integrations`` fill in what each message
  lacks (the message's own keys win);
* a missing ``messageId`` is generated;
* ``receivedAt`` is the server's clock; without a ``timestamp``, the message
  is dated ``receivedAt - (sentAt - originalTimestamp)``, which corrects the
  client's clock by how far it was off when the batch was sent;
* numeric ``userId``, ``anonymousId``, ``groupId`` and ``previousId`` become
  strings;
* for an identify, RudderStack's ``context.traits`` count as traits.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

MAX_MESSAGE_BYTES = 32 * 1024
"""Largest message Segment accepts (its JSON, as sent)."""
MAX_BATCH_BYTES = 500 * 1024
"""Largest request body Segment accepts, after decompression."""
MAX_BATCH_MESSAGES = 2500
"""Most messages one batch may hold."""

ROUTES = {
    "track": "track", "identify": "identify", "page": "page", "screen": "screen",
    "group": "group", "alias": "alias", "batch": None, "import": None,
    # analytics.js's short routes (text/plain bodies with the writeKey inside).
    "t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias",
    "b": None,
}
"""``/v1/<route>`` -> the message type it carries, or None for a batch."""

ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId")


class EnvelopeError(Exception):
    """The whole request is refused with ``status`` and a reason code (no data)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Envelope:
    """An authenticated request's messages, normalized, in the order sent."""

    write_key: str
    messages: tuple[dict[str, Any], ...]


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """The request body, gunzipped if so encoded, never more than
    :data:`MAX_BATCH_BYTES` (a compressed body that would inflate beyond it is
    refused without inflating it all)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        data = body
    elif encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(body, MAX_BATCH_BYTES + 1)
        except zlib.error:
            raise EnvelopeError(400, "body.gzip_invalid") from None
        if not inflater.eof and len(data) <= MAX_BATCH_BYTES:
            raise EnvelopeError(400, "body.gzip_invalid")
    else:
        raise EnvelopeError(415, "body.encoding_unsupported")
    if len(data) > MAX_BATCH_BYTES:
        raise EnvelopeError(413, "body.too_large")
    return data


def _json(data: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError("not JSON")

    try:
        return json.loads(data, parse_constant=refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise EnvelopeError(400, "body.invalid_json") from None


def basic_write_key(authorization: str | None) -> str | None:
    """The write key of an ``Authorization: Basic`` header: its username, with or
    without the trailing colon; None if there is no usable header."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username = decoded.partition(":")[0]
    return username or None


def authenticate(candidate: str | None, write_keys: Sequence[str]) -> str:
    """``candidate`` if it is one of ``write_keys`` (compared in constant time),
    else :class:`EnvelopeError` 401."""
    if candidate:
        given = candidate.encode("utf-8", "surrogatepass")
        for key in write_keys:
            if hmac.compare_digest(given, key.encode("utf-8")):
                return key
    raise EnvelopeError(401, "auth.invalid_write_key")


def parse_envelope(route: str, body: bytes, *, authorization: str | None,
                   content_encoding: str | None, write_keys: Sequence[str],
                   received_at: datetime | None = None) -> Envelope:
    """Authenticate and normalize one request to ``/v1/<route>``.

    Raises :class:`EnvelopeError`: 404 unknown route, 415 unknown encoding,
    413 body too large, 400 invalid JSON, not an object, a batch that is not a
    list, too many messages or a message too large, 401 wrong write key.
    """
    if route not in ROUTES:
        raise EnvelopeError(404, "route.unknown")
    payload = _json(decode_body(body, content_encoding))
    if not isinstance(payload, dict):
        raise EnvelopeError(400, "body.not_an_object")
    body_key = payload.get("writeKey")
    key = authenticate(basic_write_key(authorization)
                       or (body_key if isinstance(body_key, str) else None), write_keys)
    kind = ROUTES[route]
    if kind is None:
        batch = payload.get("batch")
        if not isinstance(batch, list):
            raise EnvelopeError(400, "batch.not_a_list")
        if len(batch) > MAX_BATCH_MESSAGES:
            raise EnvelopeError(400, "batch.too_many_messages")
        shared = payload
        raw = batch
    else:
        shared = {}
        raw = [{**payload, "type": kind}]
    now = received_at or datetime.now(UTC)
    sent_at = envelope_sent_at(payload)
    messages = []
    for message in raw:
        if isinstance(message, dict) and _size(message) > MAX_MESSAGE_BYTES:
            raise EnvelopeError(400, "message.too_large")
        messages.append(normalize(message, shared, now, sent_at))
    return Envelope(key, tuple(messages))


def _size(message: Mapping[str, Any]) -> int:
    try:
        return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False)
                   .encode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return MAX_MESSAGE_BYTES + 1


def envelope_sent_at(envelope: Mapping[str, Any]) -> datetime | None:
    """The envelope's ``sentAt`` (the client's clock when it sent), if readable."""
    return _instant(envelope.get("sentAt"))


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 time with a UTC offset, or None for anything else."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")
                                        if value.endswith("Z") else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None and parsed.utcoffset() is not None else None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _id_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return value


def normalize(message: Any, shared: Mapping[str, Any], received_at: datetime,
              sent_at: datetime | None) -> Any:
    """One message as Segment's server would store it (see the module doc).
    Anything but an object is returned as is, for the pipeline to reject."""
    if not isinstance(message, dict):
        return message
    out = dict(message)
    out.pop("writeKey", None)  # a credential: never stored, audited or forwarded
    for section in ("context", "integrations"):
        batch_part, own = shared.get(section), out.get(section)
        if isinstance(batch_part, Mapping):
            out[section] = {**batch_part, **(own if isinstance(own, Mapping) else {})}
    if not isinstance(out.get("messageId"), str) or not out["messageId"]:
        out["messageId"] = str(uuid4())
    for field in ID_FIELDS:
        if field in out:
            out[field] = _id_text(out[field])
    out["receivedAt"] = _iso(received_at)
    if "timestamp" not in out or out["timestamp"] is None:
        out["timestamp"] = _iso(_event_time(out, received_at, sent_at))
    context = out.get("context")
    traits = context.get("traits") if isinstance(context, Mapping) else None
    if out.get("type") == "identify" and isinstance(traits, Mapping):
        own = out.get("traits")
        out["traits"] = {**traits, **(own if isinstance(own, Mapping) else {})}
    return out


def _event_time(message: Mapping[str, Any], received_at: datetime,
                sent_at: datetime | None) -> datetime:
    """``receivedAt - (sentAt - originalTimestamp)`` when both client times are
    readable, else ``originalTimestamp``, else ``receivedAt``."""
    original = _instant(message.get("originalTimestamp"))
    if original is None:
        return received_at
    if sent_at is None:
        return original
    try:
        return received_at - (sent_at - original)
    except OverflowError:
        return original


def jsonl_batch(line: bytes, received_at: datetime) -> list[Any] | None:
    """The messages of one JSONL line holding a Segment batch envelope
    (``{"batch": [...], "context": ..., "sentAt": ...}``, as SDKs post it),
    normalized as the gateway normalizes them, received at ``received_at``.

    None for any other line, including one that is not JSON: the pipeline
    judges it as one event (and rejects it with its reason). ``cdp-plugin
    run`` and ``cdp-plugin rules diff`` read files through this.
    """
    if b'"batch"' not in line:
        return None
    try:
        envelope = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("batch"), list):
        return None
    sent_at = envelope_sent_at(envelope)
    return [normalize(message, envelope, received_at, sent_at) for message in envelope["batch"]]
