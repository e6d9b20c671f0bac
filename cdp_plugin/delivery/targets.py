"""Delivery targets: where the events bound to a destination go.

Two shapes, told apart by their method:

* a :class:`DirectTarget` ``write``\\ s events durably inside the unit of work
  that decided them (``jsonl``): a crash before the commit leaves the events
  undecided, so a retry writes them again. At least once, in order.
* a :class:`QueuedTarget` ``send``\\ s one request's worth of events queued in
  the store (``segment``, ``webhook``, ``postgres``, and third-party kinds):
  the sender (:mod:`cdp_plugin.delivery.sender`) leases, retries,
  dead-letters and keeps per-subject order.

Every HTTP target classifies the answer the same way (:func:`http_result`):
2xx delivered; 408, 429 and 5xx retried (honouring ``Retry-After``); any
other status dead-letters at once, since sending the same bytes again
cannot change it. Redirects are not followed. Nothing of a response body
is kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import requests

from cdp_plugin.callbacks.auth import IDEMPOTENCY_HEADER, signed_headers
from cdp_plugin.errors import ConfigError

MAX_SEGMENT_BATCH_BYTES = 500 * 1024
MAX_SEGMENT_BATCH_EVENTS = 2500


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one request did: ``delivered``, else ``error`` (``http <status>`` or
    an exception class name), ``permanent`` if retrying cannot help, and the
    wait the destination asked for (``Retry-After``), in seconds."""

    delivered: bool
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


DELIVERED = SendResult(True)


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """One event as a queued target receives it: ``key`` is its stable
    idempotency key (the message pseudonym), ``payload`` what to send."""

    key: str
    payload: Mapping[str, Any]


@runtime_checkable
class QueuedTarget(Protocol):
    """A target the sender delivers to from the queue.

    ``send`` is given at most ``max_events`` events of at most ``max_bytes``
    of JSON in all (a single larger event is given alone) and must never
    raise: every failure is a :class:`SendResult`. Must be safe to call
    from one thread at a time.
    """

    max_events: int
    max_bytes: int

    def send(self, events: Sequence[QueuedEvent]) -> SendResult: ...

    def close(self) -> None: ...


@runtime_checkable
class DirectTarget(Protocol):
    """A target written inside the unit of work: ``write`` returns once the
    events are durable and raises (OSError or StorageError) otherwise."""

    def write(self, events: Iterable[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


TargetFactory = Callable[[str, Mapping[str, Any]], QueuedTarget | DirectTarget]
"""Builds a target for ``delivery.<name>`` from its spec; raises ConfigError."""


class JsonlTarget:
    """An append-only JSONL file; :meth:`write` returns once the lines are on disk
    (standard output cannot be fsynced, so there it is only flushed)."""

    def __init__(self, path: str | Path, stream: IO[str] | None = None) -> None:
        self.path = str(path)
        if stream is not None:
            self._stream, self._owned = stream, False
            return
        self._stream, self._owned = _append(path), True

    def write(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self._stream.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
            self._stream.write("\n")
        self._stream.flush()
        try:
            os.fsync(self._stream.fileno())
        except (OSError, ValueError, AttributeError):
            if self._owned:  # a file of ours that cannot be synced is a failure
                raise

    def close(self) -> None:
        if self._owned:
            self._stream.close()


def _append(path: str | Path) -> IO[str]:
    """``path`` opened for appending: a re-run must not empty what was delivered.

    A run killed in the middle of a write can leave a last line without its
    newline; that line was never reported written (its events are delivered
    again), so it is cut off rather than joined to the next run's first line.
    """
    try:
        _cut_torn_tail(path)
        return open(path, "a", encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {path}: "
                          f"{error.strerror or type(error).__name__}") from None


def _cut_torn_tail(path: str | Path) -> None:
    """Truncate ``path`` after its last newline, if anything follows it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        size = end = os.fstat(fd).st_size
        keep = 0
        while end > 0:
            start = max(0, end - 65_536)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        if keep != size:
            os.ftruncate(fd, keep)
            os.fsync(fd)
    finally:
        os.close(fd)


class SegmentTarget:
    """A Segment-compatible batch API (Segment, a RudderStack data plane, Jitsu):
    ``POST {url}/v1/batch`` with HTTP Basic auth (the write key as user name),
    ``{"batch": [...], "sentAt": ...}``, within Segment's limits of 500 KB and
    2,500 events. The receiver deduplicates by each event's ``messageId``."""

    max_events = MAX_SEGMENT_BATCH_EVENTS
    max_bytes = MAX_SEGMENT_BATCH_BYTES - 1024  # room for the envelope

    def __init__(self, url: str, write_key: str, *, timeout: float = 10.0,
                 session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/") + "/v1/batch"
        self._auth = (write_key, "")
        self._timeout = timeout
        self._session = session or requests.Session()

    def send(self, events: Sequence[QueuedEvent]) -> SendResult:
        body = {"batch": [dict(event.payload) for event in events],
                "sentAt": datetime.now(UTC).isoformat(timespec="milliseconds")}
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return http_post(self._session, self.url, data, {"Content-Type": "application/json"},
                         self._timeout, auth=self._auth)

    def close(self) -> None:
        self._session.close()


class WebhookTarget:
    """``POST`` of one event as JSON to ``url``; signed with Standard Webhooks
    (``webhook-id`` the event's idempotency key) when a secret is set."""

    max_events = 1
    max_bytes = MAX_SEGMENT_BATCH_BYTES

    def __init__(self, url: str, secret: str | None, *, timeout: float = 10.0,
                 session: requests.Session | None = None) -> None:
        self.url = url
        self._secret = secret
        self._timeout = timeout
        self._session = session or requests.Session()

    def send(self, events: Sequence[QueuedEvent]) -> SendResult:
        (event,) = events
        data = json.dumps(dict(event.payload), separators=(",", ":"),
                          ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: event.key}
        if self._secret:
            headers.update(signed_headers(self._secret, data, event.key))
        return http_post(self._session, self.url, data, headers, self._timeout)

    def close(self) -> None:
        self._session.close()


def http_post(session: requests.Session, url: str, data: bytes, headers: Mapping[str, str],
              timeout: float, *, auth: tuple[str, str] | None = None) -> SendResult:
    """POST ``data``; the answer as a :class:`SendResult`. Never raises."""
    try:
        response = session.post(url, data=data, headers=dict(headers), timeout=timeout,
                                auth=auth, allow_redirects=False)
    except Exception as exc:  # any failure of this attempt is retried, not fatal
        return SendResult(False, type(exc).__name__)
    with response:
        return http_result(response.status_code, response.headers.get("Retry-After"))


def http_result(status: int, retry_after: str | None) -> SendResult:
    """The :class:`SendResult` of an HTTP answer (see the module doc)."""
    if 200 <= status < 300:
        return DELIVERED
    retryable = status in (408, 429) or status >= 500
    return SendResult(False, f"http {status}", permanent=not retryable,
                      retry_after=parse_retry_after(retry_after) if retryable else None)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), capped at a
    day; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), 86400.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), 86400.0)
