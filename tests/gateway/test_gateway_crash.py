"""`cdp-plugin gateway` SIGKILLed 20 times at random points while clients send and the
downstream fails at random: every event that got a 200 and was allowed is delivered
at least once, in per-subject order; no denied event is delivered; the audit log
verifies.

The gateway runs as a real process (its own sender thread delivering to two
capture servers speaking Segment's batch API in this process). Clients post
``/v1/batch`` as an SDK does: each retries its batch until it gets a 200, and
only then sends that subject's next batch, so each subject's acceptance order
is its sequence order. Clients are paced so that every kill lands while they send.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import RULES_DIR, assert_audit_verifies
from tests.delivery.capture import Capture
from tests.events import ALL_GRANTED, track
from tests.gateway.conftest import serving

KILLS = 20
WRITE_KEY = "wk_crash_4e1a77"
DOWN_KEY = "wk_down_crash_1"
SUBJECTS = 9
BATCHES_PER_SUBJECT = 60
BATCH = 3
CONSENT = {"all": ALL_GRANTED,
           "analytics": {"Analytics": True, "Marketing": False, "Personalization": False},
           "denied": {name: False for name in ALL_GRANTED}}
EXPECTED = {"all": {"esp", "warehouse"}, "analytics": {"warehouse"}, "denied": set()}


class FlakyCapture(Capture):
    """A capture that fails a third of the requests, at random, with 500 or 503."""

    def __init__(self, seed: int) -> None:
        super().__init__(write_key=DOWN_KEY)
        self.rng = random.Random(seed)
        self.failing = True

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            if self.failing and self.rng.random() < 1 / 3:
                self.script.append(self.rng.choice([500, 503]))
        return super().__call__(environ, start_response)


class Gateway:
    """The gateway process, restarted at will; ``url`` is None while it is down."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.config, self.tmp_path = config, tmp_path
        self.url: str | None = None
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cdp_plugin.cli", "gateway", "--port", "0",
             "--config", str(self.config), "--rules", str(RULES_DIR),
             "--data-dir", str(self.tmp_path / "data"),
             "--audit-dir", str(self.tmp_path / "audits"), "--worker-id", "gw"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        self.url = line.split()[-1]

    def kill(self) -> None:
        assert self.process is not None
        self.url = None
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)

    def stop(self) -> None:
        assert self.process is not None
        self.url = None
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=60)
        assert self.process.returncode == 0


def _subject_batches(subject: int) -> list[list[dict[str, Any]]]:
    kind = list(CONSENT)[subject % len(CONSENT)]
    return [[track(f"c-{subject}-{b * BATCH + i:03d}", f"user-crash-{subject}",
                   consent=CONSENT[kind], n=b * BATCH + i)
             for i in range(BATCH)] for b in range(BATCHES_PER_SUBJECT)]


def _client(gateway: Gateway, subject: int, accepted: list[str], done: threading.Event,
            deadline: float) -> None:
    pace = random.Random(subject)
    for batch in _subject_batches(subject):
        time.sleep(pace.uniform(0.1, 0.4))  # a site's traffic, not a flood
        while time.monotonic() < deadline:
            url = gateway.url
            if url is not None:
                try:
                    response = requests.post(f"{url}/v1/batch", json={"batch": batch},
                                             auth=(WRITE_KEY, ""), timeout=10)
                    if response.status_code == 200:
                        accepted.extend(m["messageId"] for m in batch)
                        break
                except requests.RequestException:
                    pass
            time.sleep(0.05)
    done.set()


@pytest.fixture
def downstream() -> Iterator[tuple[FlakyCapture, FlakyCapture, str, str]]:
    esp, warehouse = FlakyCapture(1), FlakyCapture(2)
    with serving(esp) as esp_url, serving(warehouse) as warehouse_url:
        yield esp, warehouse, esp_url, warehouse_url


def test_kills_lose_no_accepted_event_and_keep_each_subjects_order(
        tmp_path: Path, downstream: tuple[FlakyCapture, FlakyCapture, str, str]) -> None:
    esp, warehouse, esp_url, warehouse_url = downstream
    retry = {"max_attempts": 100, "base_delay_seconds": 0.05, "max_delay_seconds": 0.3,
             "poll_seconds": 0.05, "timeout_seconds": 2.0}
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "gateway": {"write_keys": [WRITE_KEY]},
        "delivery": {name: {"kind": "segment", "url": url, "write_key": DOWN_KEY,
                            "retry": retry}
                     for name, url in (("esp", esp_url), ("warehouse", warehouse_url))}}))
    gateway = Gateway(config, tmp_path)
    accepted: list[list[str]] = [[] for _ in range(SUBJECTS)]
    finished = [threading.Event() for _ in range(SUBJECTS)]
    deadline = time.monotonic() + 240
    gateway.start()
    clients = [threading.Thread(target=_client, daemon=True,
                                args=(gateway, n, accepted[n], finished[n], deadline))
               for n in range(SUBJECTS)]
    for client in clients:
        client.start()
    chooser = random.Random(5)
    for _ in range(KILLS):
        time.sleep(chooser.uniform(0.05, 0.6))
        gateway.kill()
        gateway.start()
    kills_done_with_clients_busy = sum(not f.is_set() for f in finished)
    for client in clients:
        client.join(timeout=max(deadline - time.monotonic(), 1))
    assert all(f.is_set() for f in finished) and time.monotonic() < deadline
    esp.failing = warehouse.failing = False
    allowed = {name: {m for n in range(SUBJECTS) for m in accepted[n]
                      if name in EXPECTED[list(CONSENT)[n % len(CONSENT)]]}
               for name in ("esp", "warehouse")}
    captures = {"esp": esp, "warehouse": warehouse}
    wait_until = time.monotonic() + 60
    while time.monotonic() < wait_until and any(
            not allowed[name] <= {e["messageId"] for e in capture.events()}
            for name, capture in captures.items()):
        time.sleep(0.1)
    gateway.stop()

    assert kills_done_with_clients_busy == SUBJECTS, "a client finished before the kills ended"
    for name, capture in captures.items():
        arrived = [e["messageId"] for e in capture.events()]
        assert allowed[name] <= set(arrived), f"{name}: an accepted event was lost"
        assert set(arrived) <= allowed[name], f"{name}: a denied event was delivered"
        for n in range(SUBJECTS):
            mine = [m for m in dict.fromkeys(arrived) if m.startswith(f"c-{n}-")]
            assert mine == sorted(mine), f"{name}: subject {n} out of order"
    assert any(r.headers["x-answered"] != "200" for r in esp.received), "nothing failed"
    assert_audit_verifies(tmp_path, "--worker-id", "gw")
