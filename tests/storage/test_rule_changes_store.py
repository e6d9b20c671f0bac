"""The store's record of the rules last run (``rule_changes.note_rules``) on every backend."""

from __future__ import annotations

import shutil
from pathlib import Path

from cdp_plugin.rule_changes import note_rules
from cdp_plugin.rules.loader import load_rules
from tests.conftest import RULES_DIR
from tests.storage.conftest import StoreFactory


def test_each_change_is_noticed_once_and_survives_reopening(
        store_factory: StoreFactory, tmp_path: Path) -> None:
    edited = tmp_path / "rules"
    shutil.copytree(RULES_DIR, edited)
    (edited / "retention.yaml").unlink()  # a file removed is a change too
    first, second = load_rules(RULES_DIR), load_rules(edited)
    store = store_factory()
    with store.transaction():
        assert note_rules(store, first) is None  # nothing recorded before
    store.close()
    store = store_factory()  # another process, later
    with store.transaction():
        change = note_rules(store, second)
    assert change is not None
    assert (change.previous_version, change.rules_version) == (first.version, second.version)
    assert change.previous_files == {"retention.yaml": first.file_hashes["retention.yaml"]}
    assert change.files == {}
    with store.transaction():
        assert note_rules(store, second) is None
    store.close()


def test_a_rolled_back_start_is_announced_again(store_factory: StoreFactory,
                                                tmp_path: Path) -> None:
    edited = tmp_path / "rules"
    shutil.copytree(RULES_DIR, edited)
    with (edited / "segments.yaml").open("a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    store = store_factory()
    note_rules(store, load_rules(RULES_DIR))
    try:
        with store.transaction():
            assert note_rules(store, load_rules(edited)) is not None
            raise RuntimeError("the audit flush failed")
    except RuntimeError:
        pass
    with store.transaction():
        assert note_rules(store, load_rules(edited)) is not None  # a repeat, never a loss
    store.close()
