"""A downstream that records what reaches it: a Segment-compatible batch API and
a webhook receiver in one WSGI app (serve it with ``tests.gateway.conftest.serving``).

It answers each request with the next scripted status (then 200), checks
HTTP Basic auth when a write key is set, and deduplicates nothing: the tests
see every request, retries included.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Capture:
    """The downstream's state: requests received and statuses still to answer."""

    write_key: str | None = None
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        """Every event of every request answered 2xx, in arrival order."""
        with self.lock:
            accepted = [r for r in self.received if r.headers.get("x-answered") == "200"]
        out: list[dict[str, Any]] = []
        for request in accepted:
            body = request.json
            out.extend(body["batch"] if isinstance(body, dict) and "batch" in body else [body])
        return out

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        if environ.get("HTTP_CONTENT_ENCODING") == "gzip":
            body = gzip.decompress(body)
        headers = {k[5:].lower().replace("_", "-"): str(v) for k, v in environ.items()
                   if k.startswith("HTTP_")}
        status, extra = 200, {}
        if self.write_key is not None and not self._authorized(headers):
            status = 401
        with self.lock:
            if status == 200 and self.script:
                step = self.script.pop(0)
                status, extra = step if isinstance(step, tuple) else (step, {})
            headers["x-answered"] = str(status)
            self.received.append(Received(environ["PATH_INFO"], headers, body))
        start_response(f"{status} X", [("Content-Type", "application/json"),
                                       *extra.items()])
        return [b'{"success":true}' if status == 200 else b'{"success":false}']

    def _authorized(self, headers: dict[str, str]) -> bool:
        expected = base64.b64encode(f"{self.write_key}:".encode()).decode()
        return headers.get("authorization") == f"Basic {expected}"
