"""Without a rules directory every command runs on the built-in rules and says so once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cdp_plugin.cli import main
from cdp_plugin.rules.builtin import BUILTIN_NOTICE, builtin_rules
from tests.events import ALL_GRANTED, track


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _events(directory: Path) -> Path:
    events = directory / "events.jsonl"
    events.write_text(json.dumps(track("m-1", consent=ALL_GRANTED)) + "\n")
    return events


def _rules_loaded(audits: Path) -> list[dict[str, object]]:
    records = [json.loads(line) for segment in sorted(audits.glob("*/segment-*.jsonl"))
               for line in segment.read_text().splitlines()]
    return [record for record in records if record["kind"] == "rules.loaded"]


def test_run_falls_back_to_the_built_in_rules_and_says_so_once(
        empty_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(_events(empty_dir)), "--out", "out.jsonl", "--json"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines().count(BUILTIN_NOTICE) == 1
    assert ([json.loads(line)["messageId"] for line in Path("out.jsonl").read_text().splitlines()]
            == ["m-1"])
    [loaded] = _rules_loaded(empty_dir / "audits")
    files = loaded["files"]
    assert isinstance(files, dict) and len(files) == 6  # experiments.yaml ships too
    builtin = builtin_rules()
    assert files == {name: hashlib.sha256(builtin.joinpath(name).read_bytes()).hexdigest()
                     for name in files}


def test_demo_and_rules_check_fall_back_too(
        empty_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--subjects", "20", "--days", "2", "--json"]) == 0
    assert capsys.readouterr().err.splitlines().count(BUILTIN_NOTICE) == 1
    assert main(["rules", "check"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [BUILTIN_NOTICE] and "OK" in captured.out


def test_commands_that_read_no_rules_do_not_mention_them(
        empty_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    assert BUILTIN_NOTICE not in capsys.readouterr().err


def test_a_rules_directory_in_the_working_directory_is_used_silently(
        empty_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert main(["run", str(_events(empty_dir)), "--out", "out.jsonl"]) == 0
    assert BUILTIN_NOTICE not in capsys.readouterr().err


@pytest.mark.parametrize("how", ["flag", "env", "file"])
def test_an_explicit_rules_directory_that_is_missing_is_an_error(
        how: str, empty_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", str(_events(empty_dir)), "--out", "out.jsonl"]
    if how == "flag":
        args += ["--rules", "missing"]
    elif how == "env":
        monkeypatch.setenv("CDP_PLUGIN_RULES_DIR", "missing")
    else:
        (empty_dir / "settings.yaml").write_text("rules_dir: missing\n")
        args += ["--config", "settings.yaml"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "rules directory 'missing' does not exist" in err and "cdp-plugin init" in err
    assert BUILTIN_NOTICE not in err
    assert not (empty_dir / "out.jsonl").exists()


def test_rules_check_of_a_missing_directory_exits_2(
        empty_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "missing"]) == 2
    assert "rules directory 'missing' does not exist" in capsys.readouterr().err
