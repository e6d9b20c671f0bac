"""``rules.changed``: a start on rules other than those the store last ran is audited once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cdp_plugin.audit.html import render_html
from cdp_plugin.audit.report import build_report
from cdp_plugin.rule_changes import META_KEY
from cdp_plugin.rules.loader import load_rules
from tests.conftest import RULES_DIR, MakePipeline, audit_records


def _rules_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Rules A (the shipped ones) and B (A with one minimization action changed)."""
    first, second = tmp_path / "rules-a", tmp_path / "rules-b"
    shutil.copytree(RULES_DIR, first)
    shutil.copytree(RULES_DIR, second)
    path = second / "minimization.yaml"
    text = path.read_text("utf-8")
    edited = text.replace("properties.link_url: drop", "properties.link_url: keep", 1)
    assert edited != text
    path.write_text(edited, "utf-8")
    return first, second


def _all_records(make_pipeline: MakePipeline, rules: Path, **overrides: Any
                 ) -> list[dict[str, Any]]:
    pipeline = make_pipeline(rules_dir=rules, **overrides)
    pipeline.close()
    return audit_records(pipeline)


def test_a_change_is_audited_once_with_both_digests(make_pipeline: MakePipeline,
                                                     tmp_path: Path) -> None:
    first, second = _rules_pair(tmp_path)
    a, b = load_rules(first), load_rules(second)
    assert a.version != b.version

    started_on_a = _all_records(make_pipeline, first)
    assert [r["kind"] for r in started_on_a] == ["rules.loaded"]  # a fresh store: no change

    records = _all_records(make_pipeline, second)
    changes = [r for r in records if r["kind"] == "rules.changed"]
    assert len(changes) == 1
    [change] = changes
    assert change["previous_version"] == a.version and change["rules_version"] == b.version
    assert change["previous_files"] == {"minimization.yaml": a.file_hashes["minimization.yaml"]}
    assert change["files"] == {"minimization.yaml": b.file_hashes["minimization.yaml"]}
    loaded = [i for i, r in enumerate(records) if r["kind"] == "rules.loaded"]
    assert records.index(change) == loaded[-1] + 1  # right after the start's rules.loaded

    restarted = _all_records(make_pipeline, second)
    assert [r for r in restarted if r["kind"] == "rules.changed"] == changes
    assert len(restarted) == len(records) + 1  # only the new rules.loaded


def test_the_store_speaks_for_every_worker_sharing_it(make_pipeline: MakePipeline,
                                                      tmp_path: Path) -> None:
    first, second = _rules_pair(tmp_path)
    _all_records(make_pipeline, first)
    _all_records(make_pipeline, second, worker_id="w1")  # its own log announces the change
    other_log = _all_records(make_pipeline, second, worker_id="w2")
    assert [r["kind"] for r in other_log] == ["rules.loaded"]  # already known to the store
    back = _all_records(make_pipeline, first, worker_id="w2")
    [change] = [r for r in back if r["kind"] == "rules.changed"]
    assert change["rules_version"] == load_rules(first).version  # switching back is a change


def test_an_unreadable_previous_value_is_replaced_without_an_announcement(
        make_pipeline: MakePipeline, tmp_path: Path) -> None:
    first, second = _rules_pair(tmp_path)
    pipeline = make_pipeline(rules_dir=first)
    pipeline.runtime.store.set_meta(META_KEY, '{"version": 7}')
    pipeline.close()
    assert [r["kind"] for r in _all_records(make_pipeline, second)] == ["rules.loaded"] * 2
    assert [r["kind"] for r in _all_records(make_pipeline, first)][-1] == "rules.changed"


def test_the_governance_report_lists_the_change(make_pipeline: MakePipeline,
                                                tmp_path: Path) -> None:
    first, second = _rules_pair(tmp_path)
    _all_records(make_pipeline, first)
    pipeline = make_pipeline(rules_dir=second)
    pipeline.close()
    a, b = load_rules(first), load_rules(second)
    report = build_report(pipeline.runtime.audit_log.directory.parent)
    assert report["rules"]["rules_changed"] == [{
        "ts": report["rules"]["rules_changed"][0]["ts"], "log": "cdp-plugin_w0",
        "previous_version": a.version, "rules_version": b.version,
        "files": [{"file": "minimization.yaml", "before": a.file_hashes["minimization.yaml"],
                   "after": b.file_hashes["minimization.yaml"]}]}]
    page = render_html(report)
    assert f"{a.version} → {b.version}" in page
    assert f"minimization.yaml: {a.file_hashes['minimization.yaml'][:12]} → " in page
