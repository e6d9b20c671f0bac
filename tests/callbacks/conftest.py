"""Fixtures for the callback endpoints: an application per test and a signing client."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_plugin.callbacks.app import CallbackApp
from cdp_plugin.callbacks.auth import new_secret, signed_headers
from cdp_plugin.callbacks.settings import CallbackSettings
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.storage.base import CurrentConsent
from tests.conftest import MakePipeline

USER = "user-carol@example.com"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """Calls the WSGI application in-process, signing with ``secret`` by default."""

    app: CallbackApp
    secret: str

    @property
    def pipeline(self) -> Pipeline:
        return self.app.pipeline

    def request(self, method: str, path: str, body: bytes = b"", *,
                headers: Mapping[str, str] | None = None, sign: bool = True,
                content_type: str = "application/json",
                content_length: str | None = None) -> Response:
        sent = dict(signed_headers(self.secret, body)) if sign else {}
        sent.update(headers or {})
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
            "wsgi.input": io.BytesIO(body), "QUERY_STRING": "",
        }
        if "?" in path:
            environ["PATH_INFO"], environ["QUERY_STRING"] = path.split("?", 1)
        # WSGI carries the path as latin-1 text of its UTF-8 bytes.
        environ["PATH_INFO"] = environ["PATH_INFO"].encode().decode("latin-1")
        for name, value in sent.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = dict(response_headers)

        data = b"".join(self.app(environ, start_response))
        return Response(captured["status"], data, captured["headers"])

    def post(self, payload: Any, **kwargs: Any) -> Response:
        return self.request("POST", "/v1/preferences", encode(payload), **kwargs)

    def subject_request(self, kind: str, subject_id: str, request_id: str | None = None,
                        **kwargs: Any) -> Response:
        """``POST /v1/subject-requests`` for an ``access`` or ``erasure``."""
        return self.request("POST", "/v1/subject-requests",
                            subject_request_body(kind, subject_id, request_id), **kwargs)

    def current(self, subject_id: str = USER) -> dict[tuple[str, str], CurrentConsent]:
        key = self.pipeline.runtime.pseudonymizer.subject(subject_id)
        return self.pipeline.runtime.store.current_consent(key)

    def grants(self, subject_id: str = USER) -> dict[tuple[str, str], bool]:
        return {k: v.granted for k, v in self.current(subject_id).items()}


def subject_request_body(kind: str, subject_id: str, request_id: str | None = None) -> bytes:
    """The signed body of an OpenDSR-shaped access or erasure request."""
    return encode({"subject_request_type": kind, "subject_id": subject_id,
                   "subject_request_id": request_id or str(uuid.uuid4())})


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def update(captured_at: datetime = T0, subject_id: str = USER, **sections: Any) -> dict[str, Any]:
    """An update payload; ``sections`` are purposes=, channels=, topics=... as sent."""
    return {"subject_id": subject_id, "captured_at": captured_at.isoformat(), **sections}


MakeClient = Callable[..., Client]


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def make_client(make_pipeline: MakePipeline, secret: str) -> MakeClient:
    """A client on a fresh pipeline; keyword arguments replace CallbackSettings fields."""

    def make(*plugins: object, pipeline: Pipeline | None = None, **settings: Any) -> Client:
        chosen = replace(CallbackSettings(secrets=(secret,)), **settings)
        return Client(CallbackApp(pipeline or make_pipeline(*plugins), chosen), secret)

    return make


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    return make_client()
