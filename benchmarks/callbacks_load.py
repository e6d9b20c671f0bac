"""Signed preference updates per second through `cdp-plugin serve`, with none lost.

Run: ``python benchmarks/callbacks_load.py [--updates N] [--clients C] [--batch B]
[--subjects S] [--no-fsync]``.

Starts ``cdp-plugin serve`` as its own process on 127.0.0.1 (a free port) over
a fresh SQLite store, posts N signed updates (B per request) from C client
threads, each update for one of S subjects with its own capture time, in a
shuffled order. After a clean shutdown (SIGTERM) it reads the database: every
update must be in its subject's history and the current state must be the
latest by capture time. Prints the throughput and the check as JSON; exits 1
if any update was lost. Loopback traffic only, every request with a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdp_plugin.callbacks.auth import new_secret, signed_headers  # noqa: E402
from cdp_plugin.config import Config  # noqa: E402
from cdp_plugin.keys.master import load_master_key  # noqa: E402
from cdp_plugin.keys.pseudonyms import Pseudonymizer  # noqa: E402
from cdp_plugin.storage.sqlite import SQLiteStore  # noqa: E402

# `serve` run through its own parser, exactly as the cdp-plugin dispatcher runs it.
LAUNCH = """import argparse, sys
from cdp_plugin.cli import serve
parser = argparse.ArgumentParser(prog="cdp-plugin")
serve.register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _plan(updates: int, subjects: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    plan = [{"subject_id": f"bench-{n % subjects}",
             "captured_at": (T0 + timedelta(seconds=n)).isoformat(),
             "purposes": {"marketing": rng.choice(["granted", "denied"])},
             "channels": {"email": rng.choice(["granted", "denied"])}}
            for n in range(updates)]
    rng.shuffle(plan)
    return plan


def _start(tmp: Path, secret: str, fsync: bool, threads: int) -> tuple[subprocess.Popen[str],
                                                                         str, Config]:
    config = Config(data_dir=tmp / "data", audit_dir=tmp / "audits", rules_dir=ROOT / "rules",
                    worker_id="api")
    settings = tmp / "cdp_plugin.yaml"
    settings.write_text(f"audit_fsync: {'true' if fsync else 'false'}\nload_entrypoints: false\n")
    env = {**os.environ, "CDP_PLUGIN_WEBHOOK_SECRETS": secret}
    # The server's log goes to a file: a pipe nobody drains would stall it once full.
    with (tmp / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", "0",
             "--threads", str(threads), "--config", str(settings),
             "--data-dir", str(config.data_dir), "--audit-dir", str(config.audit_dir),
             "--rules", str(config.rules_dir), "--worker-id", config.worker_id],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving on "):
        process.kill()
        process.wait()
        raise SystemExit(f"serve did not start: {(tmp / 'serve.log').read_text()[-2000:]}")
    return process, line.split()[-1], config


def _post_all(url: str, secret: str, requests_: list[bytes], clients: int,
              deadline: float) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def client(share: list[bytes]) -> None:
        with requests.Session() as session:
            session.trust_env = False  # loopback only, never through a proxy
            for body in share:
                if time.monotonic() > deadline:
                    return
                try:
                    status = session.post(f"{url}/v1/preferences", data=body, timeout=30,
                                          headers={"Content-Type": "application/json",
                                                   **signed_headers(secret, body)}).status_code
                except requests.RequestException:
                    status = 0
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=client, args=(requests_[n::clients],))
               for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _check(config: Config, plan: list[dict[str, Any]]) -> dict[str, int]:
    latest: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for item in plan:
        subject = item["subject_id"]
        counts[subject] = counts.get(subject, 0) + 1
        if subject not in latest or item["captured_at"] > latest[subject]["captured_at"]:
            latest[subject] = item
    pseudonymizer = Pseudonymizer(load_master_key(config, env={}))
    store = SQLiteStore(config.store_target)
    lost = wrong = 0
    try:
        for subject, item in latest.items():
            key = pseudonymizer.subject(subject)
            lost += counts[subject] - len(store.consent_history(key))
            current = {k: v.granted for k, v in store.current_consent(key).items()}
            wrong += current != {
                ("purpose", "marketing"): item["purposes"]["marketing"] == "granted",
                ("channel", "email"): item["channels"]["email"] == "granted"}
    finally:
        store.close()
    return {"lost_updates": lost, "subjects_with_wrong_state": wrong}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1, help="updates per request")
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--server-threads", type=int, default=4)
    parser.add_argument("--no-fsync", action="store_true",
                        help="do not fsync the audit log per request")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="stop sending after this long")
    args = parser.parse_args()
    plan = _plan(args.updates, args.subjects, seed=11)
    bodies = [json.dumps({"updates": plan[n:n + args.batch]}).encode()
              for n in range(0, len(plan), args.batch)]
    secret = new_secret()
    with tempfile.TemporaryDirectory() as tmp:
        process, url, config = _start(Path(tmp), secret, not args.no_fsync, args.server_threads)
        try:
            started = time.perf_counter()
            statuses = _post_all(url, secret, bodies, args.clients,
                                 time.monotonic() + args.max_seconds)
            elapsed = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        check = _check(config, plan)
    applied = sum(status == 200 for status in statuses) * args.batch
    result = {"updates": len(plan), "requests": len(bodies), "clients": args.clients,
              "batch": args.batch, "audit_fsync": not args.no_fsync,
              "answered_200": sum(status == 200 for status in statuses),
              "seconds": round(elapsed, 2), "updates_per_second": round(applied / elapsed, 1),
              **check}
    print(json.dumps(result, indent=2))
    ok = check["lost_updates"] == 0 and check["subjects_with_wrong_state"] == 0
    return 0 if ok and len(statuses) == len(bodies) else 1


if __name__ == "__main__":
    sys.exit(main())
