"""The cdp-plugin command line, run as a user would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_plugin.cli import build_parser, main
from tests.conftest import RULES_DIR
from tests.events import ALL_DENIED, ALL_GRANTED, track


def _options(tmp_path: Path) -> list[str]:
    return ["--rules", str(RULES_DIR), "--data-dir", str(tmp_path / "data"),
            "--audit-dir", str(tmp_path / "audits")]


def test_run_writes_forwarded_events_and_a_json_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    lines = [json.dumps(track("m-1", consent=ALL_GRANTED)), json.dumps(track("m-2")),
             json.dumps(track("m-3", consent=ALL_DENIED)), "{broken", "",
             json.dumps(track("m-1", consent=ALL_GRANTED))]
    events.write_text("\n".join(lines) + "\n")
    out = tmp_path / "forwarded.jsonl"
    assert main(["run", str(events), "--out", str(out), "--json", *_options(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["processed"] == 5
    assert (summary["forwarded"], summary["quarantined"], summary["dropped"],
            summary["invalid"], summary["duplicate"]) == (1, 1, 1, 1, 1)
    assert summary["reasons"]["dropped"] == {"consent.denied": 1}
    forwarded = [json.loads(line) for line in out.read_text().splitlines()]
    assert [f["messageId"] for f in forwarded] == ["m-1"]
    assert "user-alice@example.com" not in out.read_text()


def test_run_reads_stdin_and_writes_stdout(tmp_path: Path) -> None:
    line = json.dumps(track("m-1", consent=ALL_GRANTED)) + "\n"
    result = subprocess.run(
        [sys.executable, "-m", "cdp_plugin.cli", "run", "-", "--out", "-", *_options(tmp_path)],
        input=line, capture_output=True, text=True, check=True,
    )
    assert json.loads(result.stdout)["messageId"] == "m-1"
    assert "forwarded" in result.stderr


def test_demo_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--seed", "3", "--subjects", "60", "--days", "10", "--json",
            *_options(tmp_path)]
    assert main(args) == 0
    first_summary = json.loads(capsys.readouterr().out)
    forwarded = tmp_path / "data" / "demo" / "forwarded.jsonl"
    first = forwarded.read_bytes()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == first_summary
    assert forwarded.read_bytes() == first
    assert first_summary["forwarded"] > 0 and first_summary["quarantined"] > 0
    assert first_summary["invalid"] > 0
    assert main([*args[:2], "4", *args[3:]]) == 0
    assert forwarded.read_bytes() != first


def test_rules_check_reports_problems_and_exit_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(RULES_DIR)]) == 0
    assert "OK" in capsys.readouterr().out
    broken = tmp_path / "rules"
    shutil.copytree(RULES_DIR, broken)
    with (broken / "segments.yaml").open("a") as handle:
        handle.write("surprise: true\n")
    assert main(["rules", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "segments.yaml" in err and "surprise" in err


def test_bad_rules_stop_run_with_exit_code_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(RULES_DIR, broken)
    (broken / "purposes.yaml").write_text("version: 1\npurposes: [\n")
    events = tmp_path / "e.jsonl"
    events.write_text("")
    code = main(["run", str(events), "--out", str(tmp_path / "o.jsonl"),
                 *_options(tmp_path), "--rules", str(broken)])
    assert code == 2 and "purposes.yaml" in capsys.readouterr().err


def _commands(parser: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_commands(sub, (*prefix, name)))
    return found


@pytest.mark.parametrize("command", _commands(build_parser()))
def test_every_command_has_help(command: tuple[str, ...],
                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: cdp-plugin" in capsys.readouterr().out


def test_plugins_lists_builtins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", *_options(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cdp_plugin.stages.consent" in out and "cdp_decide" in out


def test_plugins_lists_blocked_plugins_only_as_blocked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_PLUGIN_BLOCKED_PLUGINS", "cdp_plugin.stages.segmentation")
    assert main(["plugins", *_options(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "cdp_plugin.stages.segmentation (blocked)" in lines
    assert "cdp_plugin.stages.segmentation" not in lines
    assert "    cdp_update_segments" not in lines
    assert "cdp_plugin.stages.consent" in lines


def test_consent_show_and_reconsent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from cdp_plugin.config import Config
    from cdp_plugin.pipeline import Pipeline
    from cdp_plugin.types import ConsentUpdate

    config = Config(data_dir=tmp_path / "data", audit_dir=tmp_path / "audits",
                    rules_dir=RULES_DIR, load_entrypoints=False)
    with Pipeline.from_config(config) as pipeline:
        for day, granted in ((1, True), (2, False)):
            pipeline.record_consent(ConsentUpdate(
                "user-frank", datetime(2026, 1, day, tzinfo=UTC), "preference_center",
                purposes={"marketing": granted}, channels={"email": True},
                notice_version="2026-01", proof={"form_id": "pc-main"}))
        key = pipeline.runtime.pseudonymizer.subject("user-frank")
    assert main(["consent", "show", "user-frank", *_options(tmp_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["subject"] == key and "user-frank" not in json.dumps(shown)
    assert [r["purposes"] for r in shown["history"]] == [{"marketing": True},
                                                         {"marketing": False}]
    assert {(c["scope"], c["name"], c["state"]) for c in shown["current"]} == {
        ("channel", "email", "granted"), ("purpose", "marketing", "denied")}
    assert main(["consent", "reconsent", "--json", "--at", "2026-03-01T00:00:00+00:00",
                 *_options(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["consent", "reconsent", "--json", "--at", "2027-03-01T00:00:00+00:00",
                 *_options(tmp_path)]) == 0
    [due] = json.loads(capsys.readouterr().out)
    assert due == {"subject": key, "reasons": ["expired"],
                   "items": ["channel:email", "purpose:marketing"]}
