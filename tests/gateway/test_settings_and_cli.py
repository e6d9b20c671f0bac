"""The gateway's settings, and `cdp-plugin gateway` run as an operator would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.gateway.settings import WRITE_KEYS_ENV, load_gateway_settings
from tests.conftest import RULES_DIR
from tests.events import ALL_GRANTED, track


def test_write_keys_come_from_the_file_or_the_environment() -> None:
    config = Config(gateway={"write_keys": ["wk_file_123456"]})
    assert load_gateway_settings(config, env={}).write_keys == ("wk_file_123456",)
    chosen = load_gateway_settings(config, env={WRITE_KEYS_ENV: " wk_env_1234567, wk_env_7654321"})
    assert chosen.write_keys == ("wk_env_1234567", "wk_env_7654321")


@pytest.mark.parametrize(("section", "env", "message"), [
    ({}, {}, "no write key configured"),
    ({"write_keys": ["short"]}, {}, "gateway.write_keys (entry 1)"),
    ({"write_keys": ["wk_with:colon1"]}, {}, "without ':'"),
    ({"write_keys": "wk_not_a_list1"}, {}, "must be a list"),
    ({"write_keys": ["wk_ok_12345678"], "colour": 1}, {}, "gateway.colour: unknown key"),
    ({"write_keys": ["wk_ok_12345678"], "retry_after_seconds": 0}, {}, "retry_after_seconds"),
])
def test_bad_settings_name_the_key_never_the_value(section: dict[str, object],
                                                   env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_gateway_settings(Config(gateway=section), env=env)
    assert message in str(caught.value)
    assert "wk_with:colon1" not in str(caught.value)


def test_the_gateway_command_serves_decides_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, WRITE_KEYS_ENV: "wk_cli_1234567", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cdp_plugin.cli", "gateway", "--port", "0",
         "--rules", str(RULES_DIR), "--data-dir", str(tmp_path / "data"),
         "--audit-dir", str(tmp_path / "audits")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        url = line.split()[-1]
        response = requests.post(f"{url}/v1/batch", auth=("wk_cli_1234567", ""), timeout=10,
                                 json={"batch": [track("m-cli", consent=ALL_GRANTED)]})
        assert response.status_code == 200 and response.json() == {"success": True}
        refused = requests.post(f"{url}/v1/batch", auth=("wk_other_000000", ""), timeout=10,
                                json={"batch": []})
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)  # waits, and closes the pipes
    assert process.returncode == 0
    logs = list((tmp_path / "audits").rglob("segment-*.jsonl"))
    decisions = [json.loads(line) for path in logs for line in path.read_text().splitlines()
                 if '"event.decision"' in line]
    assert [d["action"] for d in decisions] == ["allow"]
    assert "wk_cli_1234567" not in "".join(p.read_text() for p in logs)


def test_run_expands_batch_envelopes_as_the_gateway_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cdp_plugin.cli import main

    single = track("m-plain", consent=ALL_GRANTED)
    message = track("m-env", consent=ALL_GRANTED)
    del message["timestamp"]
    message["originalTimestamp"] = "2026-11-20T10:00:00Z"
    envelope = {"batch": [message, {"type": "track"}], "sentAt": "2026-11-20T10:00:30Z",
                "context": {"library": {"name": "analytics-python"}}}
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(single) + "\n" + json.dumps(envelope) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["run", str(events), "--out", str(out), "--json", "--rules", str(RULES_DIR),
                 "--data-dir", str(tmp_path / "data"),
                 "--audit-dir", str(tmp_path / "audits")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["processed"], summary["forwarded"], summary["invalid"]) == (3, 2, 1)
    forwarded = {e["messageId"]: e for e in map(json.loads, out.read_text().splitlines())}
    assert set(forwarded) == {"m-plain", "m-env"}
    # Dated by the receipt, corrected by how long before sentAt the event happened.
    dated = datetime.fromisoformat(forwarded["m-env"]["timestamp"])
    assert timedelta(0) < datetime.now(UTC) - dated < timedelta(minutes=5)
