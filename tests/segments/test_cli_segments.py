"""`cdp-plugin segments tick | stats | explain`, through a parser of their own."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp_plugin.cli import segments as command
from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline
from tests.conftest import RULES_DIR
from tests.events import ALL_GRANTED, track

USER = "user-alice@example.com"


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="cdp-plugin")
    command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture
def options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Flags naming a store that holds one subject's events."""
    flags = ["--rules", str(RULES_DIR), "--data-dir", str(tmp_path / "data"),
             "--audit-dir", str(tmp_path / "audits")]
    config = Config(data_dir=tmp_path / "data", rules_dir=RULES_DIR,
                    audit_dir=tmp_path / "audits", load_entrypoints=False)
    with Pipeline.from_config(config) as pipeline:
        pipeline.process(track("m-1", consent=ALL_GRANTED, timestamp="2026-11-20T10:00:00Z"))
        pipeline.process(track("m-2", event="Product Added", consent=ALL_GRANTED, price=5.0,
                               timestamp="2026-11-20T10:05:00Z"))
    return flags


def test_tick_applies_and_lists_changes(options: list[str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["segments", "tick", "--at", "2026-11-22T12:00:00", "--json", *options]) == 0
    changes = json.loads(capsys.readouterr().out)
    assert {(c["segment"], c["entered"]) for c in changes} == {
        ("cart_abandoned", True), ("cart_open", False)}
    assert all(c["at"] == "2026-11-22T12:00:00+00:00" and c["active"] is False
               for c in changes)
    assert run(["segments", "tick", "--at", "2027-01-01T00:00:00Z", *options]) == 0
    out, err = capsys.readouterr()
    assert "recently_active" in out and "exits" in err


def test_stats_show_sizes_modes_and_days(options: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["segments", "stats", "--since", "2026-11-01", "--json", *options]) == 0
    found = {item["segment"]: item for item in json.loads(capsys.readouterr().out)}
    recent = found["recently_active"]
    assert recent["size"] == 1 and recent["mode"] == "shadow: 1 of the 50 members needed"
    assert recent["days"] == [{"day": "2026-11-20", "size": 1, "entered": 1, "exited": 0,
                               "churn_rate": None}]
    assert found["dormant"]["size"] == 0 and found["dormant"]["days"] == []
    assert run(["segments", "stats", "--since", "2026-11-01", *options]) == 0
    out = capsys.readouterr().out
    assert "2026-11-20  +1" in out and "mobile_user" in out and "review status is in_review" in out


def test_explain_gives_each_clause_with_its_values(options: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    at = "2026-11-21T10:00:00Z"
    assert run(["segments", "explain", USER, "--at", at, "--json", *options]) == 0
    report = json.loads(capsys.readouterr().out)
    assert USER not in json.dumps(report) and report["subject"].startswith("s")
    found = {item["segment"]: item for item in report["segments"]}
    assert found["recently_active"]["member"] and found["recently_active"]["holds_now"]
    assert found["repeat_buyer"]["explanation"] == ["purchase_count >= 2: failed "
                                                    "(purchase_count=1)"]
    assert found["cart_open"]["member"] and found["cart_abandoned"]["holds_now"] is False
    assert run(["segments", "explain", "someone-else", *options]) == 0
    out = capsys.readouterr().out
    assert "recently_active: not a member; does not hold now" in out
    assert "missing consent: marketing, personalization" in out


def test_a_bad_time_is_a_usage_error(options: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        run(["segments", "tick", "--at", "tomorrow", *options])
    assert stopped.value.code == 2 and "ISO-8601" in capsys.readouterr().err


def test_now_is_the_default_time(options: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["segments", "explain", USER, "--json", *options]) == 0
    report = json.loads(capsys.readouterr().out)
    assert datetime.fromisoformat(report["at"]) > datetime(2026, 1, 1, tzinfo=UTC)
