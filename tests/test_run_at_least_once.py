"""`cdp-plugin run` is at least once: SIGKILL it anywhere, re-run it, lose nothing."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import RULES_DIR, assert_audit_verifies
from tests.events import ALL_GRANTED, track

EVENTS = 6000
KILLS = 6
GROWTH = 200
"""Lines a run must have added to the output before it is killed (so every kill
lands mid-run, not after it finished)."""


def _run(events: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cdp_plugin.cli", "run", str(events), "--out",
         str(tmp_path / "out.jsonl"), "--batch-size", "50", "--json", "--rules", str(RULES_DIR),
         "--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_every_allowed_event_is_in_the_output_after_kills_and_a_rerun(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    ids = [f"m-{n}" for n in range(EVENTS)]
    events.write_text("".join(json.dumps(track(m, f"user-{n % 97}", consent=ALL_GRANTED)) + "\n"
                              for n, m in enumerate(ids)))
    chooser = random.Random(11)
    output = tmp_path / "out.jsonl"
    killed = 0
    for _ in range(KILLS):
        before = _line_count(output)
        process = _run(events, tmp_path)
        deadline = time.monotonic() + 60
        while process.poll() is None and _line_count(output) < before + GROWTH:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.01)
        time.sleep(chooser.uniform(0, 0.3))  # somewhere inside a later batch
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(timeout=30)
    final = _run(events, tmp_path)
    _, errors = final.communicate(timeout=300)
    assert final.returncode == 0, errors.decode()
    written = [json.loads(line)["messageId"]
               for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert set(written) == set(ids)  # at least once: duplicates allowed, nothing missing
    assert killed == KILLS, "a run finished before it could be killed"
    assert_audit_verifies(tmp_path)
