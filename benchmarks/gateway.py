"""Accepted events per second through `cdp-plugin gateway`, against the in-process pipeline,
and delivery to a local ``segment`` target.

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

The delivery runs bind ``warehouse`` to a ``segment`` target: a
Segment-compatible batch API served by waitress in this process, which only
records each messageId's arrival time. The first is the gateway run with
its sender delivering while it ingests: the accepted rate then, and the
latency from acceptance (the client's 200) to arrival downstream, p50 and
p99 over every delivered event. The second queues only (``--no-delivery``)
and times ``cdp-plugin delivery run --until-idle`` sending the full queue:
the delivery throughput (its process start included).
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
from waitress.server import create_server

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


class Arrivals:
    """A Segment-compatible batch API that records when each messageId arrived."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        now = time.time()
        with self.lock:
            for event in json.loads(body)["batch"]:
                self.times.setdefault(event["messageId"], now)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"success":true}']


def _config(tmp: Path, downstream: str | None) -> Path:
    config = tmp / "config.yaml"
    section: dict[str, Any] = {}
    if downstream is not None:
        section = {"delivery": {"warehouse": {
            "kind": "segment", "url": downstream, "write_key": "wk_bench_down",
            "retry": {"batch_size": 500, "poll_seconds": 0.02}}}}
    config.write_text(json.dumps(section))
    return config


def _places(tmp: Path, downstream: str | None) -> list[str]:
    return ["--config", str(_config(tmp, downstream)), "--rules", str(ROOT / "rules"),
            "--data-dir", str(tmp / "data"), "--audit-dir", str(tmp / "audits")]


def _start_gateway(tmp: Path, downstream: str | None = None, *, sending: bool = True
                   ) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CDP_PLUGIN_WRITE_KEYS": WRITE_KEY, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cdp_plugin.cli", "gateway", "--port", "0", "--threads", "8",
         *_places(tmp, downstream), *([] if sending else ["--no-delivery"])],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving on "):
        process.kill()
        raise SystemExit(f"the gateway did not start: {line!r}")
    return process, line.split()[-1]


def _through_gateway(batches: list[list[dict[str, Any]]], clients: int,
                     downstream: str | None = None,
                     accepted: dict[str, float] | None = None,
                     drained_by_command: list[float] | None = None) -> float:
    """Seconds to have every batch answered 200; ``accepted`` gets each
    messageId's acceptance time. With ``drained_by_command`` the gateway only
    queues, and ``cdp-plugin delivery run --until-idle`` then sends everything:
    its wall time is appended."""
    with tempfile.TemporaryDirectory() as tmp:
        process, url = _start_gateway(Path(tmp), downstream,
                                      sending=drained_by_command is None)
        try:
            work: queue.Queue[tuple[list[str], bytes]] = queue.Queue()
            for batch in batches:
                work.put(([e["messageId"] for e in batch if isinstance(e.get("messageId"), str)],
                          json.dumps({"batch": batch}, separators=(",", ":")).encode()))
            failures: list[int] = []

            def client() -> None:
                session = requests.Session()
                session.auth = (WRITE_KEY, "")
                while True:
                    try:
                        ids, body = work.get_nowait()
                    except queue.Empty:
                        return
                    answer = session.post(f"{url}/v1/batch", data=body, timeout=60,
                                          headers={"Content-Type": "application/json"})
                    if answer.status_code != 200:
                        failures.append(answer.status_code)
                    elif accepted is not None:
                        now = time.time()
                        accepted.update(dict.fromkeys(ids, now))

            threads = [threading.Thread(target=client) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            if failures:
                raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
            if downstream is not None and drained_by_command is None:
                _drain(url)
            return elapsed
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            if drained_by_command is not None:
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "cdp_plugin.cli", "delivery", "run",
                                "--until-idle", *_places(Path(tmp), downstream)],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                drained_by_command.append(time.perf_counter() - started)


def _drain(url: str, timeout: float = 300) -> None:
    """Until the gateway's delivery queue is empty (read from its /metrics)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = requests.get(f"{url}/metrics", timeout=10).text
        depth = [line for line in text.splitlines()
                 if line.startswith("cdp_delivery_queue_depth{")]
        if depth and all(line.rsplit(" ", 1)[1] == "0.0" for line in depth):
            return
        time.sleep(0.05)
    raise SystemExit("the delivery queue did not drain")


def _downstream(run: Any) -> tuple[Any, Arrivals]:
    """``run(url)`` with the recording batch API served; its result and the arrivals."""
    arrivals = Arrivals()
    server = create_server(arrivals, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        result = run(f"http://127.0.0.1:{server.effective_port}")
    finally:
        server.close()
    if not arrivals.times:
        raise SystemExit("nothing was delivered")
    return result, arrivals


def _with_delivery(batches: list[list[dict[str, Any]]], clients: int
                   ) -> tuple[float, list[float]]:
    """(accepted events/s, latencies in seconds) with the gateway delivering as it ingests."""
    accepted: dict[str, float] = {}
    elapsed, arrivals = _downstream(
        lambda url: _through_gateway(batches, clients, url, accepted))
    latencies = [max(at - accepted[m], 0.0) for m, at in arrivals.times.items()
                 if m in accepted]
    return len(accepted) / elapsed, latencies


def _drain_rate(batches: list[list[dict[str, Any]]], clients: int) -> float:
    """Delivered events/s of ``cdp-plugin delivery run`` over a full queue."""
    took: list[float] = []
    _, arrivals = _downstream(
        lambda url: _through_gateway(batches, clients, url, drained_by_command=took))
    return len(arrivals.times) / took[0]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    batches = _batches(args.events, args.batch)
    n = sum(len(b) for b in batches)
    local, served, with_delivery, delivered = [], [], [], []
    p50s, p99s = [], []
    for _ in range(args.repeat):
        local.append(n / _in_process(batches))
        served.append(n / _through_gateway(batches, args.clients))
        accepted_rate, latencies = _with_delivery(batches, args.clients)
        with_delivery.append(accepted_rate)
        delivered.append(_drain_rate(batches, args.clients))
        p50s.append(_percentile(latencies, 0.5))
        p99s.append(_percentile(latencies, 0.99))
    base, gateway = statistics.median(local), statistics.median(served)
    print(f"{n} events in batches of {args.batch}, {args.clients} clients, "
          f"median of {args.repeat} repeats")
    print(f"{'measurement':<46} {'events/s':>10}")
    print(f"{'in-process Pipeline.process_batch':<46} {base:>10.0f}")
    print(f"{'gateway: HTTP /v1/batch, committed per request':<46} {gateway:>10.0f}")
    print(f"{'gateway with delivery to a segment target':<46} "
          f"{statistics.median(with_delivery):>10.0f}")
    print(f"{'delivery run draining the queue to the target':<46} "
          f"{statistics.median(delivered):>10.0f}")
    print(f"latency acceptance -> delivery: p50 {statistics.median(p50s) * 1000:.0f} ms, "
          f"p99 {statistics.median(p99s) * 1000:.0f} ms")
    print(f"ratio gateway/in-process: {gateway / base:.2f}")
    print(f"ratio gateway with delivery/in-process: {statistics.median(with_delivery) / base:.2f}")


if __name__ == "__main__":
    main()
