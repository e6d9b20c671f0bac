"""`cdp-plugin run` queues for the delivery targets; `cdp-plugin delivery run|status|requeue`
sends, reports and requeues them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdp_plugin.cli import main
from tests.conftest import RULES_DIR
from tests.delivery.capture import Capture
from tests.events import ALL_GRANTED, track
from tests.gateway.conftest import serving

DOWN_KEY = "wk_down_cli_1"


def _places(tmp_path: Path, url: str, **retry: float) -> list[str]:
    """The options of a configuration binding ``warehouse`` to a segment target at
    ``url`` with ``retry``, and storage under ``tmp_path``."""
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"delivery": {"warehouse": {
        "kind": "segment", "url": url, "write_key": DOWN_KEY, "retry": retry}}}))
    return ["--config", str(config), "--rules", str(RULES_DIR),
            "--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits")]


def test_run_queues_and_delivery_run_status_and_requeue_deliver(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = Capture(write_key=DOWN_KEY, script=[400])
    with serving(capture) as url:
        places = _places(tmp_path, url, base_delay_seconds=0.01, poll_seconds=0.01)
        events = tmp_path / "events.jsonl"
        events.write_text("".join(json.dumps(track(f"m-{n}", f"user-{n}", consent=ALL_GRANTED))
                                  + "\n" for n in range(3)))
        assert main(["run", str(events), "--out", str(tmp_path / "out.jsonl"), "--json",
                     *places]) == 0
        assert capture.received == []  # run queues; it does not send
        capsys.readouterr()

        assert main(["delivery", "run", "--until-idle", *places]) == 0
        assert "dead-lettered 3" in capsys.readouterr().out  # the first request got a 400
        assert main(["delivery", "status", "--json", *places]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["destinations"]["warehouse"]["dead"] == 3
        assert {d["error"] for d in status["dead_letters"]} == {"http 400"}
        assert "m-0" not in json.dumps(status)  # message pseudonyms, never ids or content

        first = status["dead_letters"][0]["id"]
        assert main(["delivery", "requeue", "--id", str(first), *places]) == 0
        assert "requeued 1" in capsys.readouterr().out
        assert main(["delivery", "requeue", "--destination", "warehouse", *places]) == 0
        assert "requeued 2" in capsys.readouterr().out
        assert main(["delivery", "run", "--until-idle", *places]) == 0
        assert "delivered 3" in capsys.readouterr().out
        assert main(["delivery", "status", *places]) == 0
        table = capsys.readouterr().out.splitlines()
        assert table[1].split() == ["warehouse", "0", "3", "0", "0"]
    assert sorted(e["messageId"] for e in capture.events()) == ["m-0", "m-1", "m-2"]


def test_delivery_run_without_a_queued_target_is_a_configuration_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["delivery", "run", "--until-idle", "--rules", str(RULES_DIR),
                 "--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits")])
    assert code == 2
    assert "no queued target" in capsys.readouterr().err


def test_delivery_run_until_idle_leaves_retries_queued(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = Capture(write_key=DOWN_KEY, script=[503])
    with serving(capture) as url:
        places = _places(tmp_path, url, base_delay_seconds=3600)
        events = tmp_path / "events.jsonl"
        events.write_text(json.dumps(track("m-0", consent=ALL_GRANTED)) + "\n")
        assert main(["run", str(events), "--out", str(tmp_path / "out.jsonl"), *places]) == 0
        capsys.readouterr()
        assert main(["delivery", "run", "--until-idle", *places]) == 0  # returns at once
        assert "retried 1" in capsys.readouterr().out
        assert main(["delivery", "status", "--json", *places]) == 0
        status = json.loads(capsys.readouterr().out)
    assert status["destinations"]["warehouse"]["pending"] == 1
    assert len(capture.received) == 1
