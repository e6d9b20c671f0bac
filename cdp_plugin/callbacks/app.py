"""The preference-center callback endpoints as a WSGI application.

==========================================  ==========================================
``POST /v1/preferences``                    one update or ``{"updates": [...]}`` (signed)
``POST /v1/subject-requests``               access or erasure, the subject in the body (signed)
``/v1/subjects/...``                        410: the old routes signed an empty body
``GET /v1/double-opt-in/confirm?token=``    a page whose button confirms (no change)
``POST /v1/double-opt-in/confirm``          confirm: ``token`` as JSON or form field
``GET /v1/health``                          liveness
==========================================  ==========================================

Signed requests follow Standard Webhooks (:mod:`cdp_plugin.callbacks.auth`),
which sign ``id.timestamp.body`` but not the method or path: every request
that changes or reveals something is therefore a POST whose signed body says
what it does and to whom (:mod:`cdp_plugin.callbacks.subject_request`). The
former ``GET /v1/subjects/{id}/export`` and ``DELETE /v1/subjects/{id}``
signed an empty body, so any unused signature would have served any subject;
they answer 410. Every webhook id is stored with the
method, path and body it came with: the same id with the same request is a
duplicate (a POST or DELETE is acknowledged and not applied again; a GET is
refused, so a captured export request cannot be replayed), with another
request it is a replay (401). Responses: 200 applied, 400 with field paths
(never values), 401 authentication, 404, 405, 413 body too large, 415
content type, 503 store or audit log unavailable (nothing applied; retry).

Nothing about a subject is logged, and no path holds a subject id.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from cdp_plugin.callbacks import doi
from cdp_plugin.callbacks.auth import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookAuthError,
    WebhookMessage,
    WebhookVerifier,
    request_digest,
)
from cdp_plugin.callbacks.outbox import Outbox
from cdp_plugin.callbacks.preferences import BatchResult, ReplayedWebhook, apply_preferences
from cdp_plugin.callbacks.schemas import PayloadError, PayloadLoader
from cdp_plugin.callbacks.settings import CallbackSettings
from cdp_plugin.callbacks.subject_request import ACCESS, load_subject_request
from cdp_plugin.callbacks.subjects import erase_subject, export_subject, forwarded_counts
from cdp_plugin.callbacks.work import unit_of_work
from cdp_plugin.errors import AuditError, PluginError, StorageError
from cdp_plugin.events import poison_problems
from cdp_plugin.keys.master import derive_key
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.unit_of_work import Clock, utcnow

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = Mapping[str, Any]
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 410: "Gone", 413: "Content Too Large",
            415: "Unsupported Media Type", 500: "Internal Server Error",
            503: "Service Unavailable"}
DIGEST_LABEL = "webhook-request/v1"
_SUBJECTS = "/v1/subjects/"
_SUBJECT_REQUESTS = "/v1/subject-requests"
_CONFIRM = "/v1/double-opt-in/confirm"
_CONFIRM_STATUS = {"confirmed": 200, "already_confirmed": 200, "cancelled": 410,
                   "expired": 410, "unknown": 410}
_CONFIRM_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="robots" content="noindex"><title>Confirm your subscription</title></head>
<body><form method="post" action="{action}"><input type="hidden" name="token" value="{token}">
<button type="submit">Confirm</button></form></body></html>"""


class HttpError(Exception):
    """Answer the request with ``status`` and ``body`` (no personal data)."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = dict(body)


class CallbackApp:
    """The WSGI application over one pipeline.

    Requests are served by any number of server threads; the pipeline (and
    the outbox, which shares it) is used under one lock. Raises ConfigError
    at construction if no webhook secret is configured.
    """

    def __init__(self, pipeline: Pipeline, settings: CallbackSettings, *,
                 clock: Clock = utcnow) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.clock = clock
        self.lock = threading.Lock()
        self.verifier = WebhookVerifier(settings.secrets, settings.tolerance_seconds)
        master = pipeline.runtime.pseudonymizer.master_keys.pseudonym.secret
        self._digest_key = derive_key(master, DIGEST_LABEL)
        self.loader = PayloadLoader(pipeline.runtime.rules.purposes, settings.max_batch, clock)

    def outbox(self) -> Outbox:
        """An outbox sender sharing this application's pipeline and lock."""
        return Outbox(self.pipeline, self.settings, lock=self.lock, clock=self.clock)

    def forget_old_webhooks(self) -> int:
        """Drop stored webhook ids older than the retention (far beyond the
        timestamp tolerance, so a replay is still refused by its timestamp)."""
        cutoff = self.clock() - timedelta(hours=self.settings.webhook_retention_hours)
        with self.lock:
            return self.pipeline.runtime.store.forget_webhooks_before(cutoff)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, body, content_type = self._route(environ)
        except HttpError as exc:
            status, body, content_type = exc.status, _json(exc.body), "application/json"
        except (StorageError, AuditError) as exc:
            log.error("callback not applied: %s", type(exc).__name__)
            status, body = 503, _json({"error": "unavailable"})
            content_type = "application/json"
        except PluginError as exc:
            log.error("callback not applied: plugin %s failed in %s", exc.plugin, exc.hook)
            status, body = 500, _json({"error": "plugin_error", "plugin": exc.plugin})
            content_type = "application/json"
        except Exception as exc:
            # The message may hold data from the request; only the class is logged.
            log.error("callback failed: %s", type(exc).__name__)
            status, body, content_type = 500, _json({"error": "internal"}), "application/json"
        start_response(f"{status} {_REASONS.get(status, '')}".rstrip(), [
            ("Content-Type", content_type), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
        return [body]

    # --- routing -------------------------------------------------------------------

    def _route(self, environ: Environ) -> tuple[int, bytes, str]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = _path(environ)
        if path == "/v1/preferences":
            _allow(method, "POST")
            return 200, _json(self._preferences(environ, path)), "application/json"
        if path == _CONFIRM:
            _allow(method, "GET", "POST")
            if method == "GET":
                return 200, self._confirm_page(environ), "text/html; charset=utf-8"
            status, result = self._confirm(environ)
            return status, _json(result), "application/json"
        if path == _SUBJECT_REQUESTS:
            _allow(method, "POST")
            return 200, _json(self._subject_request(environ, path)), "application/json"
        if path.startswith(_SUBJECTS):
            raise HttpError(410, {"error": "gone", "use": f"POST {_SUBJECT_REQUESTS}"})
        if path == "/v1/health":
            _allow(method, "GET")
            return 200, _json({"status": "ok"}), "application/json"
        raise HttpError(404, {"error": "not_found"})

    # --- endpoints -----------------------------------------------------------------

    def _preferences(self, environ: Environ, path: str) -> dict[str, Any]:
        _require_type(environ, "application/json")
        body = self._body(environ)
        message = self._authenticate(environ, body)
        payload = decode_json(body, "invalid_json")
        try:
            updates = self.loader.load(payload)
        except PayloadError as exc:
            raise HttpError(400, {"error": "invalid_payload", "fields": exc.fields}) from None
        digest = request_digest(self._digest_key, "POST", path, body)
        with self.lock:
            try:
                result = apply_preferences(self.pipeline, self.settings, updates, self.clock(),
                                           webhook=(message.webhook_id, digest))
            except ReplayedWebhook:
                raise HttpError(401, {"error": "unauthorized", "reason": "replayed_id"}) from None
        return _batch_body(result)

    def _subject_request(self, environ: Environ, path: str) -> dict[str, Any]:
        """An access or erasure request; the signed body names the subject and the kind."""
        _require_type(environ, "application/json")
        body = self._body(environ)
        message = self._authenticate(environ, body)
        try:
            request = load_subject_request(decode_json(body, "invalid_json"))
        except PayloadError as exc:
            raise HttpError(400, {"error": "invalid_payload", "fields": exc.fields}) from None
        webhook = (message.webhook_id, request_digest(self._digest_key, "POST", path, body))
        answer: dict[str, Any] = {"subject_request_id": str(request.request_id),
                                  "subject_request_type": request.request_type}
        forwarded = None
        if request.request_type == ACCESS:  # the log scan is slow: do it before the lock
            runtime = self.pipeline.runtime
            forwarded = forwarded_counts(runtime.config.audit_dir,
                                         runtime.pseudonymizer.subject(request.subject_id))
        with self.lock:
            try:
                if request.request_type == ACCESS:
                    return {**answer, **export_subject(self.pipeline, request.subject_id,
                                                       self.clock(), webhook=webhook,
                                                       forwarded=forwarded)}
                erasure = erase_subject(self.pipeline, self.settings, request.subject_id,
                                        self.clock(), webhook=webhook)
            except ReplayedWebhook:
                raise HttpError(401, {"error": "unauthorized", "reason": "replayed_id"}) from None
        if erasure is None:
            return {**answer, "status": "duplicate"}
        return {**answer, "status": "erased", **erasure.as_dict()}

    def _confirm_page(self, environ: Environ) -> bytes:
        token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [""])[0]
        # A page, not the confirmation: mail scanners follow links, people press buttons.
        return _CONFIRM_PAGE.format(action=_CONFIRM, token=html.escape(token[:256])).encode()

    def _confirm(self, environ: Environ) -> tuple[int, dict[str, Any]]:
        content_type = _content_type(environ)
        body = self._body(environ)
        token: Any = None
        try:
            if content_type == "application/json":
                payload = decode_json(body, "invalid_body")
                token = payload.get("token") if isinstance(payload, dict) else None
            elif content_type == "application/x-www-form-urlencoded":
                tokens = parse_qs(body.decode("ascii")).get("token")
                token = tokens[0] if tokens else None
            else:
                raise HttpError(415, {"error": "unsupported_media_type"})
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, {"error": "invalid_body"}) from None
        if not isinstance(token, str):
            raise HttpError(400, {"error": "invalid_payload", "fields": {"token": ["required"]}})
        with self.lock, unit_of_work(self.pipeline):
            try:
                outcome = doi.confirm(self.pipeline, token, self.clock())
            except doi.InvalidToken:
                raise HttpError(400, {"error": "invalid_token"}) from None
        return _CONFIRM_STATUS[outcome], {"status": outcome}

    # --- request plumbing ------------------------------------------------------------

    def _body(self, environ: Environ) -> bytes:
        """The request body, refused with 413 before reading more than the limit."""
        limit = self.settings.max_body_bytes
        declared = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if declared:
            if not declared.isdigit():
                raise HttpError(400, {"error": "invalid_content_length"})
            if int(declared) > limit:
                raise HttpError(413, {"error": "too_large", "limit": limit})
            data: bytes = stream.read(int(declared))
            return data
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise HttpError(413, {"error": "too_large", "limit": limit})
        return data

    def _authenticate(self, environ: Environ, body: bytes) -> WebhookMessage:
        headers = {name: environ.get("HTTP_" + name.upper().replace("-", "_"), "")
                   for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)}
        try:
            return self.verifier.verify(headers, body, self.clock().timestamp())
        except WebhookAuthError as exc:
            log.warning("callback refused: %s", exc.reason)
            raise HttpError(401, {"error": "unauthorized", "reason": exc.reason}) from None


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def _path(environ: Environ) -> str:
    raw: str = environ.get("PATH_INFO", "") or "/"
    try:
        # WSGI hands the path over as latin-1 text of the raw bytes.
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise HttpError(400, {"error": "invalid_path"}) from None


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise HttpError(405, {"error": "method_not_allowed", "allowed": list(allowed)})


def _content_type(environ: Environ) -> str:
    return str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()


def _require_type(environ: Environ, wanted: str) -> None:
    if _content_type(environ) != wanted:
        raise HttpError(415, {"error": "unsupported_media_type", "expected": wanted})


def _batch_body(result: BatchResult) -> dict[str, Any]:
    if result.duplicate:
        return {"status": "duplicate"}
    return {"status": "applied", "results": [{
        "subject": r.subject_key,
        "changes": [{"purpose": c.purpose, "previous": c.previous.value,
                     "current": c.current.value} for c in r.changes],
        "released": sum(o.forwarded for o in r.settled),
        "purged": sum(not o.forwarded for o in r.settled),
        "notices": len(r.notices),
        "confirmations": [{"channel": t.channel, "token": t.token,
                           "expires_at": t.expires_at.isoformat(), "confirm_url": t.confirm_url}
                          for t in r.confirmations],
    } for r in result.results]}


def decode_json(body: bytes, error: str) -> Any:
    """The JSON value of a request body, or HttpError 400 ``{"error": error}``.

    Refused as well as malformed JSON: nesting too deep to decode, ``NaN`` and
    ``Infinity``, and strings or keys holding a NUL or a lone surrogate (which
    no store accepts): a client's mistake is a 400, never a 500.
    """
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
        if isinstance(payload, dict) and poison_problems(payload):
            raise ValueError("unstorable value")
        if isinstance(payload, list) and poison_problems({"$": payload}):
            raise ValueError("unstorable value")
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HttpError(400, {"error": error}) from None
    return payload


def _refuse_constant(name: str) -> Any:
    raise ValueError("not JSON")
