"""`cdp-plugin init`: the built-in rules and an example configuration, never half-applied."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cdp_plugin.cli import main
from cdp_plugin.config import EXAMPLE_CONFIG, EXAMPLE_FILE, Config, _ConfigSchema, load_config
from cdp_plugin.rules.builtin import builtin_rules
from cdp_plugin.rules.loader import OPTIONAL_FILES, RULE_FILES

RULE_NAMES = (*RULE_FILES, *OPTIONAL_FILES)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def test_init_writes_the_built_in_rules_and_a_configuration_that_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "project"
    assert main(["init", str(target)]) == 0
    written = _snapshot(target)
    assert set(written) == {*(f"rules/{name}" for name in RULE_NAMES), EXAMPLE_FILE}
    for name in RULE_NAMES:
        assert written[f"rules/{name}"] == builtin_rules().joinpath(name).read_bytes()
    assert f"rules check {target / 'rules'}" in capsys.readouterr().out

    assert main(["rules", "check", str(target / "rules")]) == 0
    assert "OK" in capsys.readouterr().out
    loaded = load_config(target / EXAMPLE_FILE, env={})
    assert loaded == Config().with_overrides(rules_dir="rules")


def test_init_defaults_to_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "rules" / "purposes.yaml").is_file()
    assert (tmp_path / EXAMPLE_FILE).is_file()


def test_init_refuses_to_overwrite_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path)]) == 0
    (tmp_path / "rules" / "segments.yaml").unlink()
    (tmp_path / "rules" / "purposes.yaml").write_text("# my own edits\n")
    before = _snapshot(tmp_path)
    capsys.readouterr()

    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'rules' / 'purposes.yaml'} already exists" in err
    assert f"{tmp_path / EXAMPLE_FILE} already exists" in err
    assert "segments.yaml" not in err and "--force" in err
    assert _snapshot(tmp_path) == before

    assert main(["init", str(tmp_path), "--force"]) == 0
    after = _snapshot(tmp_path)
    assert after["rules/purposes.yaml"] == builtin_rules().joinpath("purposes.yaml").read_bytes()
    assert "rules/segments.yaml" in after
    assert not [name for name in after if name.endswith(".tmp")]


def test_init_refuses_when_a_target_is_not_a_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules").write_text("not a directory\n")
    assert main(["init", str(tmp_path), "--force"]) == 2
    assert f"{tmp_path / 'rules'} is not a directory" in capsys.readouterr().err
    assert _snapshot(tmp_path) == {"rules": b"not a directory\n"}


def test_the_example_configuration_explains_every_key() -> None:
    keys = set(_ConfigSchema().fields)
    lines = EXAMPLE_CONFIG.splitlines()
    for key in keys:
        [index] = [i for i, line in enumerate(lines) if re.match(rf"#? ?{key}:", line)]
        comment: list[str] = []
        for line in reversed(lines[:index]):
            if not line.startswith("#"):
                break
            comment.append(line)
        assert comment, f"{key} has no comment"
        assert any("Default:" in line for line in comment), f"{key}'s comment gives no default"
    set_keys = {line.split(":")[0] for line in lines if re.match(r"[a-z_]+:", line)}
    assert set_keys <= keys
