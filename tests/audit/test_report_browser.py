"""The HTML report as a browser renders it: headless Chromium, offline.

Chromium comes from the distribution (``apt-get install -y --no-install-recommends
chromium``). Without it these tests are skipped, except when ``CI`` is ``true``:
there a missing browser is a failure, so the check cannot silently vanish.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cdp_plugin.audit.html import render_html
from cdp_plugin.audit.note import NoteSigner, generate_signer_key
from cdp_plugin.audit.report import build_report
from tests.audit.test_report import CHARTS, NOW, SECTION_HEADINGS, Keys, write_logs

TIMEOUT = 60
INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is not installed; CI must install it: {INSTALL}")
        pytest.skip(f"chromium is not installed ({INSTALL})")
    return found


def _run_chromium(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", *options,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture
def page(tmp_path: Path) -> Path:
    keys = Keys(NoteSigner(generate_signer_key("audit-w0")),
                NoteSigner(generate_signer_key("audit-w1")))
    report = build_report(write_logs(tmp_path / "audits", keys), now=NOW)
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


def test_the_rendered_dom_holds_every_chart_and_section(page: Path, tmp_path: Path) -> None:
    dom = _run_chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert len(re.findall(r'<svg class="chart"', dom)) == CHARTS
    for heading in SECTION_HEADINGS:
        assert f"<h2>{heading}</h2>" in dom
    # The browser parsed the inline SVG as SVG: its titles survive as elements.
    assert dom.count('<title id="chart-') == CHARTS
    assert "<script" not in dom


def test_the_page_renders_to_a_non_trivial_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert shot.exists()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
