"""The ingest gateway as a WSGI application.

======================================================  ================================
``POST /v1/track|identify|page|screen|group|alias``     one message
``POST /v1/batch``, ``POST /v1/import``                 ``{"batch": [...], ...}``
``POST /v1/t|i|p|s|g|a|b``                              analytics.js's short routes
``OPTIONS`` on any of them                              CORS preflight
``GET /v1/health``                                      liveness
``GET /metrics``                                        Prometheus text format
======================================================  ================================

Every accepted message has been decided by the pipeline, in one unit of
work, before the answer goes out: a 200 means its outcome (forwarded,
held, dropped, rejected) is committed to the store and the audit log. So a
crash after the 200 loses nothing, and a 200 is also what an event dropped
for consent or rejected as malformed gets (a 4xx would make SDKs retry it).
When the store or the audit log is unavailable, or the pipeline stays busy
longer than ``busy_seconds`` (backpressure), nothing is committed and the
answer is 503 with ``Retry-After``, which the SDKs retry; a replay of what
did commit is recognised by its messageId.

Nothing about a subject or a write key is logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cdp_plugin.delivery.config import DeliveryPlan
from cdp_plugin.delivery.queue import hand_over
from cdp_plugin.errors import AuditError, StorageError
from cdp_plugin.gateway.envelope import MAX_BATCH_BYTES, ROUTES, EnvelopeError, parse_envelope
from cdp_plugin.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from cdp_plugin.gateway.settings import GatewaySettings
from cdp_plugin.pipeline import Pipeline

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = Mapping[str, Any]
_PREFIX = "/v1/"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 413: "Content Too Large",
            415: "Unsupported Media Type", 500: "Internal Server Error",
            503: "Service Unavailable"}
_CORS = [("Access-Control-Allow-Origin", "*"),
         ("Access-Control-Allow-Methods", "POST, OPTIONS"),
         ("Access-Control-Allow-Headers", "Content-Type, Authorization, Content-Encoding"),
         ("Access-Control-Max-Age", "600")]
FORWARDED_HEADERS = ("Sec-GPC",)
"""Request headers the pipeline reads as consent signals (Global Privacy Control)."""


class GatewayApp:
    """The WSGI application over one pipeline, used under one lock.

    ``plan`` (:func:`cdp_plugin.delivery.config.load_delivery`) receives each
    request's forwarded events inside its unit of work, before it commits:
    written to its direct targets, queued in the store for the others (which
    :class:`cdp_plugin.delivery.sender.Sender` delivers).
    """

    def __init__(self, pipeline: Pipeline, settings: GatewaySettings, *,
                 plan: DeliveryPlan | None = None) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.plan = plan or DeliveryPlan()
        self.lock = threading.Lock()
        self.metrics = GatewayMetrics(self._queue_depth if self.plan.queued else None)

    def _queue_depth(self) -> dict[str, int]:
        """Pending deliveries per queued destination; {} if the pipeline stays busy."""
        if not self.lock.acquire(timeout=1.0):
            return {}
        try:
            counts = self.pipeline.runtime.store.delivery_counts()
        finally:
            self.lock.release()
        return {name: counts.get((name, "pending"), 0) for name in self.plan.queued}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        extra: list[tuple[str, str]]
        if path == "/metrics" and str(environ.get("REQUEST_METHOD", "GET")).upper() == "GET":
            body, content_type, extra = self.metrics.render(), CONTENT_TYPE, []
            status = 200
        else:
            status, body, extra = self._route(environ, path)
            content_type = "application/json"
        route = path[len(_PREFIX):] if path[len(_PREFIX):] in ROUTES else "other"
        self.metrics.request(route, status)
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
                   *_CORS, *extra]
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]

    def _route(self, environ: Environ, path: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if path == "/v1/health":
            return (200, _json({"status": "ok"}), []) if method == "GET" else _error(405)
        if not path.startswith(_PREFIX):
            return _error(404, "route.unknown")
        if method == "OPTIONS":
            return 200, b"{}", []
        if method != "POST":
            return _error(405, "method.not_allowed")
        try:
            body = _read_body(environ)
            envelope = parse_envelope(
                path[len(_PREFIX):], body,
                authorization=environ.get("HTTP_AUTHORIZATION"),
                content_encoding=environ.get("HTTP_CONTENT_ENCODING"),
                write_keys=self.settings.write_keys, received_at=datetime.now(UTC))
        except EnvelopeError as exc:
            return _error(exc.status, exc.reason)
        headers = {name: str(environ[key]) for name in FORWARDED_HEADERS
                   if (key := "HTTP_" + name.upper().replace("-", "_")) in environ}
        if not self.lock.acquire(timeout=self.settings.busy_seconds):
            return self._unavailable("busy", "the pipeline is busy; retry")
        try:
            with self.pipeline.unit_of_work():
                outcomes = self.pipeline.process_batch(envelope.messages, headers)
                hand_over(self.pipeline, self.plan, outcomes)
            self.metrics.decided(outcomes, time.monotonic() - started)
        except (StorageError, AuditError, OSError) as exc:
            log.error("batch not accepted: %s", type(exc).__name__)
            return self._unavailable("unavailable",
                                     "store, audit log or delivery target unavailable; retry")
        finally:
            self.lock.release()
        return 200, _json({"success": True}), []

    def _unavailable(self, code: str, message: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        """503 with ``Retry-After``: nothing was committed, and the SDKs retry."""
        retry = [("Retry-After", str(self.settings.retry_after_seconds))]
        return 503, _json({"success": False, "code": code, "message": message}), retry


def _read_body(environ: Environ) -> bytes:
    """At most :data:`MAX_BATCH_BYTES` (plus one, to tell that more was sent)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise EnvelopeError(400, "body.length_invalid") from None
    if length > MAX_BATCH_BYTES:
        raise EnvelopeError(413, "body.too_large")
    stream = environ["wsgi.input"]
    data: bytes = stream.read(length) if length > 0 else b""
    return data


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _error(status: int, reason: str = "") -> tuple[int, bytes, list[tuple[str, str]]]:
    """An error in the shape Segment's API answers (``code`` and ``message``, which
    the SDKs read), never quoting the request."""
    code = reason or _REASONS.get(status, "error")
    body = {"success": False, "code": code, "message": _REASONS.get(status, "Error")}
    return status, _json(body), []
