"""analytics.js (``@segment/analytics-next`` from the npm registry, unmodified) in
headless Chromium, posting to the gateway.

The package is fetched by ``.ci/run`` (``npm pack``, checked against a pinned
SHA-256) into ``tests/gateway/vendor/``; ``CDP_PLUGIN_ANALYTICS_NEXT`` may
point at another unpacked copy. The page loads its UMD build from a local
server and configures it with ``cdnSettings``, so nothing is fetched from
anywhere else. Without the package or Chromium the test is skipped, except
when ``CI`` is ``true``, where either missing is a failure.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import audit_records, message_keys
from tests.gateway.conftest import WRITE_KEY, Downstream

HERE = Path(__file__).parent
PAGE = HERE / "analytics_next_page.html"
VERSION = "1.84.3"
FETCH = ("mkdir -p tests/gateway/vendor && cd tests/gateway/vendor && "
         f"npm pack @segment/analytics-next@{VERSION} && tar xzf segment-analytics-next-*.tgz")


def _required(what: str, how: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; CI must provide it: {how}")
    pytest.skip(f"{what} is missing ({how})")


def _bundle() -> Path:
    package = Path(os.environ.get("CDP_PLUGIN_ANALYTICS_NEXT", HERE / "vendor" / "package"))
    umd = package / "dist" / "umd"
    if not (umd / "index.js").is_file():
        _required("@segment/analytics-next", FETCH)
    return umd


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _required("chromium", "apt-get install -y --no-install-recommends chromium")
    assert found is not None
    return found


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The page and the analytics.js build, served from loopback."""
    root = tmp_path / "site"
    root.mkdir()
    for script in _bundle().glob("*.js"):
        shutil.copy(script, root / script.name)
    shutil.copy(PAGE, root / "index.html")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_analytics_js_calls_arrive_decided_and_minimized(downstream: Downstream, site: str,
                                                         tmp_path: Path) -> None:
    host = downstream.url.removeprefix("http://")
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000",
         "--dump-dom", f"{site}/index.html?key={WRITE_KEY}&host={host}"],
        capture_output=True, text=True, timeout=90, check=False)
    found = re.search(r'<pre id="out">([^<]*)</pre>', result.stdout)
    assert found is not None, result.stderr[-2000:]
    status, _, ids = found.group(1).partition(" ")
    assert status == "done", found.group(1)
    identify, order, page, viewed = json.loads(ids)
    pipeline = downstream.pipeline
    decisions = {r["message_id"]: r for r in audit_records(pipeline, "event.decision")}
    keys = message_keys(pipeline, identify, order, page, viewed)
    assert [decisions[k]["action"] for k in keys] == ["allow", "allow", "allow", "quarantine"]
    assert [decisions[k]["type"] for k in keys] == ["identify", "track", "page", "track"]
    assert decisions[keys[0]]["subject"] == pipeline.runtime.pseudonymizer.subject(
        "user-browser-1")
    touched = {path for action, paths in decisions[keys[0]]["minimization"].items()
               if action != "keep" for path in paths}
    assert "traits.email" in touched
    log = "\n".join(json.dumps(r) for r in audit_records(pipeline))
    assert "browser@example.com" not in log and WRITE_KEY not in log
    # Downstream, through the segment targets: the three allowed calls, minimized.
    # Downstream, through the segment targets, as each destination's purposes allow:
    # the identify (marketing) to the esp, the page (analytics) to the warehouse.
    downstream.wait_for(esp=2, warehouse=2)
    esp = {e["messageId"]: e for e in downstream.esp.events()}
    warehouse = {e["messageId"]: e for e in downstream.warehouse.events()}
    assert set(esp) == {identify, order} and set(warehouse) == {order, page}
    assert [esp[identify]["type"], warehouse[page]["type"]] == ["identify", "page"]
    assert esp[identify]["traits"] == {"email": "browser@example.com"}
    sent = json.dumps([*esp.values(), *warehouse.values()])
    assert viewed not in sent
    assert "browser@example.com" not in json.dumps(list(warehouse.values()))
    assert "user-browser-1" not in json.dumps(list(warehouse.values()))
