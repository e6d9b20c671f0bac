"""Governance: minimum size, shadow mode for unreviewed rules, size and churn for drift review."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from cdp_plugin.rules import load_rules
from cdp_plugin.segments.governance import activated, mode, report
from cdp_plugin.storage import open_store
from tests.conftest import RULES_DIR, MakePipeline
from tests.events import ALL_GRANTED, track

RULES = load_rules(RULES_DIR).segments
BY_NAME = {rule.name: rule for rule in RULES.segments}


def test_activation_needs_approval_and_the_minimum_size() -> None:
    recent, mobile = BY_NAME["recently_active"], BY_NAME["mobile_user"]
    high = BY_NAME["high_spender"]
    assert recent.min_size == 50 and high.min_size == 100
    assert not activated(recent, 49) and activated(recent, 50)
    assert not activated(high, 99) and activated(high, 100)
    assert mobile.review_status == "in_review" and not activated(mobile, 10**6)
    assert mode(recent, 12) == "shadow: 12 of the 50 members needed"
    assert mode(mobile, 500) == "shadow: review status is in_review"
    assert mode(recent, 50) == "active"


def _rules_with_small_minimums(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    path = rules / "segments.yaml"
    text = path.read_text(encoding="utf-8")
    for name in ("recently_active", "mobile_user", "german_speakers"):
        head = f"  - name: {name}\n"
        assert head in text
        text = text.replace(head, f"{head}    min_size: 2\n")
    path.write_text(text, encoding="utf-8")
    return rules


def test_changes_are_active_only_once_the_segment_is_big_enough(
        make_pipeline: MakePipeline, tmp_path: Path) -> None:
    pipeline = make_pipeline(rules_dir=_rules_with_small_minimums(tmp_path))

    def changes(message_id: str, user: str, locale: str = "de-DE") -> dict[str, tuple[bool, bool]]:
        message = track(message_id, user, consent=ALL_GRANTED)
        message["context"]["locale"] = locale
        outcome = pipeline.process(message)
        return {c.segment: (c.entered, c.active) for c in outcome.segment_changes}

    alice = changes("m-1", "user-alice@example.com")
    assert alice["recently_active"] == (True, False)  # alone: below the minimum of 2
    bob = changes("m-2", "user-bob@example.com")
    assert bob["recently_active"] == (True, True)
    assert bob["german_speakers"] == (True, True)
    assert bob["mobile_user"] == (True, False)  # big enough, but not approved
    assert bob["new_customer"] == (True, False)  # default minimum: 50
    # Alice leaves an activated segment: the exit is active, so downstream drops her...
    assert changes("m-3", "user-alice@example.com", "fr-FR")["german_speakers"] == (False, True)
    # ... after which it is too small: Bob's exit is not.
    assert changes("m-4", "user-bob@example.com", "fr-FR")["german_speakers"] == (False, False)
    assert pipeline.runtime.store.segment_sizes()["german_speakers"] == 0


def test_report_shows_mode_size_and_daily_churn(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    for i, user in enumerate(("a", "b", "c")):
        pipeline.process(track(f"m-{i}", f"user-{user}", consent=ALL_GRANTED))
    pipeline.process(track("m-9", "user-a", consent=ALL_GRANTED, timestamp="2026-12-20T10:00:00Z"))
    found = {item.name: item for item in report(pipeline.runtime.store, RULES)}
    assert list(found) == [rule.name for rule in RULES.segments]
    new = found["new_customer"]
    assert new.size == 2 and new.mode == "shadow: 2 of the 50 members needed"
    assert [(d.day, d.entered, d.exited, d.size) for d in new.days] == [
        (date(2026, 11, 20), 3, 0, 3), (date(2026, 12, 20), 0, 1, 2)]
    assert new.days[0].churn_rate is None and new.days[1].churn_rate == pytest.approx(1 / 3)
    recent = report(pipeline.runtime.store, RULES, since=date(2026, 12, 1))
    assert [d.day for d in next(r for r in recent if r.name == "new_customer").days] == [
        date(2026, 12, 20)]


def test_report_reads_a_store_opened_on_its_own(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.process(track("m-1", consent=ALL_GRANTED))
    target = pipeline.runtime.config.store_target
    pipeline.close()
    store = open_store(target)
    try:
        sizes = {item.name: item.size for item in report(store, RULES)}
    finally:
        store.close()
    assert sizes["recently_active"] == 1 and sizes["dormant"] == 0
