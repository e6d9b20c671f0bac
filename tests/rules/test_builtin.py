"""The built-in rules: one copy in the source tree, found through the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_plugin.errors import ConfigError
from cdp_plugin.rules import load_rules
from cdp_plugin.rules.builtin import DEFAULT_RULES_DIR, builtin_rules, locate_rules
from cdp_plugin.rules.loader import OPTIONAL_FILES, RULE_FILES

REPO = Path(__file__).resolve().parents[2]


def test_the_built_in_rules_are_the_top_level_rules_directory() -> None:
    builtin = builtin_rules()
    for name in (*RULE_FILES, *OPTIONAL_FILES):
        assert builtin.joinpath(name).read_bytes() == (REPO / "rules" / name).read_bytes()


def test_the_source_tree_holds_one_copy_of_the_rules() -> None:
    copies = list((REPO / "cdp_plugin").rglob("*.yaml"))
    assert copies == []
    assert not (REPO / "cdp_plugin" / "default_rules").exists()


def test_without_a_configured_directory_the_working_directory_rules_win(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fallback = locate_rules(None)
    assert fallback.builtin and isinstance(fallback.path, Path)
    assert load_rules(fallback.path).file_hashes == load_rules(REPO / "rules").file_hashes
    (tmp_path / "rules").mkdir()
    assert locate_rules(None).path == DEFAULT_RULES_DIR and not locate_rules(None).builtin


def test_an_explicit_directory_must_exist(tmp_path: Path) -> None:
    assert locate_rules(REPO / "rules").path == REPO / "rules"
    with pytest.raises(ConfigError, match=r"does not exist.*cdp-plugin init"):
        locate_rules(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        locate_rules(tmp_path / "file")
