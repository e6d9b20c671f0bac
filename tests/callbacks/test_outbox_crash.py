"""Crash test: the sender is killed in the middle of retries and restarted.

The destination is a small HTTP server on 127.0.0.1 (the sender is another
process, so in-process mocks cannot reach it). Like a real destination it
applies a notice once per idempotency key, however often the key arrives.
Some keys always fail, some fail twice before succeeding, some succeed at
once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.callbacks.settings import Destination
from cdp_plugin.config import Config
from tests.callbacks import outbox_runner
from tests.callbacks.conftest import T0, MakeClient, update
from tests.conftest import RULES_DIR

NOTICES = 18
RUNNER = Path(outbox_runner.__file__)


class Destination_:
    """What the fake destination saw: requests and applications per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        self.failures = 0

    def answer(self, key: str) -> int:
        with self.lock:
            self.requests[key] += 1
            behaviour = int(key[-1], 16) % 3
            if behaviour == 0 or (behaviour == 1 and self.requests[key] <= 2):
                self.failures += 1
                return 503
            if not self.applied[key]:
                self.applied[key] += 1
            return 200


@pytest.fixture
def destination() -> Iterator[tuple[Destination_, str]]:
    seen = Destination_()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers["Idempotency-Key"]
            assert json.loads(body)["idempotency_key"] == key
            time.sleep(0.02)  # widen the window a kill can land in
            self.send_response(seen.answer(key))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}/suppress"
    finally:
        server.shutdown()
        server.server_close()


def _runner(config: Config, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(RUNNER), str(config.data_dir),
                             str(config.audit_dir), str(RULES_DIR), url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _audited(audit_dir: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for segment in sorted((audit_dir / f"cdp-plugin_{outbox_runner.WORKER_ID}").glob(
            "segment-*.jsonl")):
        records.extend(json.loads(line) for line in segment.read_bytes().splitlines())
    return records


def test_each_notice_reaches_the_destination_once_per_key_across_a_kill(
        make_client: MakeClient, config: Config,
        destination: tuple[Destination_, str]) -> None:
    seen, url = destination
    client = make_client(destinations={"esp": Destination("esp", url)})
    for number in range(NOTICES):
        subject = f"user-{number}"
        client.post(update(T0, subject_id=subject, purposes={"marketing": "granted"}))
        client.post(update(T0 + timedelta(hours=1), subject_id=subject,
                           purposes={"marketing": "denied"}))
    store = client.pipeline.runtime.store
    queued = {n.idempotency_key for n in store.outbox_list()}
    assert len(queued) == NOTICES

    first = _runner(config, url)
    deadline = time.monotonic() + 60
    while (seen.failures < 3 or sum(seen.requests.values()) < NOTICES // 2) and (
            first.poll() is None and time.monotonic() < deadline):
        time.sleep(0.005)
    assert first.poll() is None, "the sender finished before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    interrupted = {n.idempotency_key: n.status for n in store.outbox_list()}
    assert "pending" in interrupted.values()  # killed with work left

    second = _runner(config, url)
    _, errors = second.communicate(timeout=120)
    assert second.returncode == 0, errors.decode()[-2000:]

    notices = {n.idempotency_key: n for n in store.outbox_list()}
    assert set(notices) == queued
    assert {n.status for n in notices.values()} <= {"delivered", "dead"}
    delivered = {k for k, n in notices.items() if n.status == "delivered"}
    dead = {k for k, n in notices.items() if n.status == "dead"}
    assert delivered and dead
    # Each notice reached the destination, and was applied there exactly once
    # per key if delivered, never if dead-lettered.
    assert set(seen.requests) == queued
    assert set(seen.applied) == delivered
    assert all(count == 1 for count in seen.applied.values())
    policy = outbox_runner.POLICY
    assert all(seen.requests[k] <= notices[k].attempts <= policy.max_attempts
               for k in queued)
    assert all(notices[k].attempts == policy.max_attempts for k in dead)
    # Every attempt and outcome is in the audit log.
    records = _audited(config.audit_dir)
    attempts = {(r["idempotency_key"], r["attempt"]) for r in records
                if r["kind"] == "outbox.attempt"}
    assert all((k, n) in attempts for k, notice in notices.items()
               for n in range(1, notice.attempts + 1))
    outcomes: dict[str, set[str]] = {r["kind"]: set() for r in records}
    for record in records:
        outcomes[record["kind"]].add(str(record.get("idempotency_key")))
    assert outcomes["outbox.delivered"] == delivered
    assert outcomes["outbox.dead_lettered"] == dead
