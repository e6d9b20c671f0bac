"""Operator mistakes get one clear line and exit code 2, never a traceback or lost data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cdp_plugin.cli import main
from tests.conftest import RULES_DIR
from tests.events import ALL_GRANTED, track
from tests.test_cli import _options


def test_run_refuses_to_write_over_its_input(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "ev.jsonl"
    content = json.dumps(track("m-1", consent=ALL_GRANTED)) + "\n"
    events.write_text(content)
    assert main(["run", str(events), "--out", str(events), *_options(tmp_path)]) == 2
    assert events.read_text() == content
    link = tmp_path / "same.jsonl"
    link.symlink_to(events)
    assert main(["run", str(events), "--out", str(link), *_options(tmp_path)]) == 2
    assert events.read_text() == content
    err = capsys.readouterr().err
    assert "is the input file" in err and "Traceback" not in err


def test_a_missing_input_file_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl"),
                 *_options(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot read" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_a_very_deeply_nested_rules_file_exits_2_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / "segments.yaml").write_text("a: " + "[" * 20000 + "]" * 20000 + "\n")
    assert main(["rules", "check", str(rules)]) in (1, 2)
    events = tmp_path / "ev.jsonl"
    events.write_text(json.dumps(track("m-1")) + "\n")
    code = main(["run", str(events), "--out", str(tmp_path / "o.jsonl"), "--rules", str(rules),
                 "--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits")])
    err = capsys.readouterr().err
    assert code == 2 and "segments.yaml" in err and "nested too deeply" in err
    assert "Traceback" not in err
