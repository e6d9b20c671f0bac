"""Accepted events per second through `cdp-plugin gateway`, against the in-process pipeline.

Run: ``python benchmarks/gateway.py [--events N] [--clients C] [--batch B] [--repeat R]``.

Both measurements use the same synthetic events (the demo generator's mix,
events only) in the same run, in batches of B (default 100, as SDKs send).
The baseline runs them through ``Pipeline.process_batch`` in this process.
The gateway run starts ``cdp-plugin gateway`` as its own process on a free
loopback port over a fresh SQLite store and audit log, and posts the same
batches from C concurrent client threads with Basic auth, each request with
a timeout; a run fails if any request is not answered 200. Each repeat
starts from fresh storage on both sides. Medians are reported because
machines are shared and noisy; the ratio is the figure to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from common import ROOT, scratch_pipeline

from cdp_plugin.synthetic import generate_stream

WRITE_KEY = "wk_bench_0123456"


def _batches(count: int, size: int) -> list[list[dict[str, Any]]]:
    events = []
    for item in generate_stream(seed=11, subjects=max(count // 20, 100), days=30):
        if item.event is not None:
            events.append(item.event)
            if len(events) >= count:
                break
    return [events[i:i + size] for i in range(0, len(events), size)]


def _in_process(batches: list[list[dict[str, Any]]]) -> float:
    with scratch_pipeline() as pipeline:
        started = time.perf_counter()
        for batch in batches:
            pipeline.process_batch(batch)
        return time.perf_counter() - started


def _start_gateway(tmp: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CDP_PLUGIN_WRITE_KEYS": WRITE_KEY, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cdp_plugin.cli", "gateway", "--port", "0", "--threads", "8",
         "--rules", str(ROOT / "rules"), "--data-dir", str(tmp / "data"),
         "--audit-dir", str(tmp / "audits")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving on "):
        process.kill()
        raise SystemExit(f"the gateway did not start: {line!r}")
    return process, line.split()[-1]


def _through_gateway(batches: list[list[dict[str, Any]]], clients: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        process, url = _start_gateway(Path(tmp))
        try:
            work: queue.Queue[bytes] = queue.Queue()
            for batch in batches:
                work.put(json.dumps({"batch": batch}, separators=(",", ":")).encode())
            failures: list[int] = []

            def client() -> None:
                session = requests.Session()
                session.auth = (WRITE_KEY, "")
                while True:
                    try:
                        body = work.get_nowait()
                    except queue.Empty:
                        return
                    answer = session.post(f"{url}/v1/batch", data=body, timeout=60,
                                          headers={"Content-Type": "application/json"})
                    if answer.status_code != 200:
                        failures.append(answer.status_code)

            threads = [threading.Thread(target=client) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            if failures:
                raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
            return elapsed
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    batches = _batches(args.events, args.batch)
    n = sum(len(b) for b in batches)
    local, served = [], []
    for _ in range(args.repeat):
        local.append(n / _in_process(batches))
        served.append(n / _through_gateway(batches, args.clients))
    base, gateway = statistics.median(local), statistics.median(served)
    print(f"{n} events in batches of {args.batch}, {args.clients} clients, "
          f"median of {args.repeat} repeats")
    print(f"{'measurement':<46} {'events/s':>10}")
    print(f"{'in-process Pipeline.process_batch':<46} {base:>10.0f}")
    print(f"{'gateway: HTTP /v1/batch, committed per request':<46} {gateway:>10.0f}")
    print(f"ratio gateway/in-process: {gateway / base:.2f}")


if __name__ == "__main__":
    main()
