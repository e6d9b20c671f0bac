"""`cdp-plugin serve` on loopback under concurrent signed updates: none is lost.

A smaller version of ``benchmarks/callbacks_load.py``: the server runs as its
own process on 127.0.0.1 (a free port), clients post from threads, and the
final state is read back from the database after a clean shutdown (SIGTERM).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from cdp_plugin.callbacks.auth import new_secret, signed_headers
from cdp_plugin.config import Config
from cdp_plugin.keys.master import load_master_key
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.storage.sqlite import SQLiteStore
from tests.callbacks.conftest import T0, update
from tests.conftest import RULES_DIR

SUBJECTS = 40
UPDATES_PER_SUBJECT = 8
CLIENTS = 4
# Until `serve` is wired into the cdp-plugin command, it is run through its own parser,
# exactly as the command's dispatcher would run it.
LAUNCH = """import argparse, sys
from cdp_plugin.cli import serve
parser = argparse.ArgumentParser(prog="cdp-plugin")
serve.register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Config, subprocess.Popen[str]]]:
    secret = new_secret()
    config = Config(data_dir=tmp_path / "data", audit_dir=tmp_path / "audits",
                    rules_dir=RULES_DIR, worker_id="api")
    settings = tmp_path / "cdp_plugin.yaml"
    settings.write_text("audit_fsync: false\nload_entrypoints: false\n")
    # The server's log goes to a file: a pipe nobody drains would stall it once full.
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", "0",
             "--config", str(settings), "--data-dir", str(config.data_dir),
             "--audit-dir", str(config.audit_dir), "--rules", str(RULES_DIR),
             "--worker-id", "api"],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env={"PATH": "/usr/bin:/bin", "CDP_PLUGIN_WEBHOOK_SECRETS": secret})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), log_path.read_text()[-2000:]
        yield line.split()[-1], secret, config, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_concurrent_signed_updates_are_all_applied(
        server: tuple[str, str, Config, subprocess.Popen[str]]) -> None:
    url, secret, config, process = server
    plan: list[dict[str, Any]] = [
        update(T0 + timedelta(minutes=n), subject_id=f"load-{s}",
               purposes={"marketing": random.choice(["granted", "denied"])},
               channels={"email": random.choice(["granted", "denied"])})
        for s in range(SUBJECTS) for n in range(UPDATES_PER_SUBJECT)]
    random.Random(3).shuffle(plan)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(share: list[dict[str, Any]]) -> None:
        with requests.Session() as session:
            session.trust_env = False  # loopback only, never through a proxy
            for item in share:
                body = json.dumps(item).encode()
                response = session.post(f"{url}/v1/preferences", data=body, timeout=30,
                                        headers={"Content-Type": "application/json",
                                                 **signed_headers(secret, body)})
                with lock:
                    statuses.append(response.status_code)

    threads = [threading.Thread(target=client, args=(plan[n::CLIENTS],))
               for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0

    assert statuses == [200] * len(plan)
    pseudonymizer = Pseudonymizer(load_master_key(config, env={}))
    store = SQLiteStore(config.store_target)
    try:
        for s in range(SUBJECTS):
            subject = f"load-{s}"
            key = pseudonymizer.subject(subject)
            mine = [u for u in plan if u["subject_id"] == subject]
            latest = max(mine, key=lambda u: u["captured_at"])
            assert len(store.consent_history(key)) == UPDATES_PER_SUBJECT
            current = {k: v.granted for k, v in store.current_consent(key).items()}
            assert current == {
                ("purpose", "marketing"): latest["purposes"]["marketing"] == "granted",
                ("channel", "email"): latest["channels"]["email"] == "granted"}
    finally:
        store.close()
