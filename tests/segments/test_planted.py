"""On the planted stream, every default segment is found exactly: precision and recall 1.0,
at the end of the stream and after ticks at later times."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules import load_rules
from cdp_plugin.types import ConsentUpdate, SegmentChange, Status
from tests.conftest import RULES_DIR, MakePipeline
from tests.segments.planted import PlantedStream, planted_stream
from tests.segments.truth import MARKETING_SEGMENTS

DEFAULT_SEGMENTS = [rule.name for rule in load_rules(RULES_DIR).segments.segments]

Memberships = dict[str, frozenset[str]]


@pytest.fixture(scope="module")
def planted() -> PlantedStream:
    return planted_stream(seed=7)


def _memberships(pipeline: Pipeline, planted: PlantedStream) -> Memberships:
    store, subject = pipeline.runtime.store, pipeline.runtime.pseudonymizer.subject
    found = {}
    for user_id in planted.subjects:
        profile = store.get_profile(subject(user_id)) or {}
        found[user_id] = frozenset(profile.get("segments", {}))
    return found


def _scores(found: Memberships, truth: Memberships, segment: str) -> tuple[float, float]:
    predicted = {uid for uid, segments in found.items() if segment in segments}
    actual = {uid for uid, segments in truth.items() if segment in segments}
    hits = len(predicted & actual)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(actual) if actual else 1.0
    return precision, recall


def _assert_exact(found: Memberships, truth: Memberships, when: str) -> None:
    wrong = {}
    for segment in DEFAULT_SEGMENTS:
        precision, recall = _scores(found, truth, segment)
        if (precision, recall) != (1.0, 1.0):
            extra = sorted(u for u in found if segment in found[u] and segment not in truth[u])
            lost = sorted(u for u in found if segment in truth[u] and segment not in found[u])
            wrong[segment] = (precision, recall, extra, lost)
    assert not wrong, f"{when}: (precision, recall, extra, missing) per segment: {wrong}"


def _run(pipeline: Pipeline, planted: PlantedStream) -> list[SegmentChange]:
    changes: list[SegmentChange] = []
    for item in planted.items:
        if item.preference is not None:
            pipeline.record_consent(item.preference)
        else:
            assert item.event is not None
            outcome = pipeline.process(item.event)
            assert outcome.status is not Status.INVALID
            changes.extend(outcome.segment_changes)
    return changes


def test_every_default_segment_is_exact_at_the_end_and_after_each_tick(
        make_pipeline: MakePipeline, planted: PlantedStream) -> None:
    pipeline = make_pipeline()
    changes = _run(pipeline, planted)
    assert changes and all(change.explanation for change in changes)
    _assert_exact(_memberships(pipeline, planted), planted.truth_at_end(), "end of stream")
    for at in planted.ticks:
        pipeline.tick(at)
        _assert_exact(_memberships(pipeline, planted), planted.truth_at(at), f"tick at {at}")


def test_every_default_segment_has_members_to_find(planted: PlantedStream) -> None:
    checkpoints = [planted.truth_at_end(), *(planted.truth_at(at) for at in planted.ticks)]
    for segment in DEFAULT_SEGMENTS:
        members = [sum(segment in found for found in truth.values()) for truth in checkpoints]
        outsiders = [sum(segment not in found for found in truth.values())
                     for truth in checkpoints]
        assert max(members) > 0, f"no subject is ever planted in {segment}"
        assert min(outsiders) > 0, f"every subject is in {segment}"


def test_each_behaviour_reaches_the_segments_it_is_planted_for(planted: PlantedStream) -> None:
    truths = [planted.truth_at_end(), *(planted.truth_at(at) for at in planted.ticks)]
    for user_id, subject in planted.subjects.items():
        reached = frozenset().union(*(truth[user_id] for truth in truths))
        assert subject.intended <= reached, (user_id, subject.intended - reached)
    planted_for = set().union(*(s.intended for s in planted.subjects.values()))
    assert set(DEFAULT_SEGMENTS) - planted_for <= {
        "recently_active", "german_speakers", "french_speakers"}


def test_consent_limits_the_truth(planted: PlantedStream) -> None:
    truths: list[Mapping[str, frozenset[str]]] = [
        planted.truth_at_end(), *(planted.truth_at(at) for at in planted.ticks)]
    for user_id, subject in planted.subjects.items():
        for truth in truths:
            if not subject.consent["personalization"] or subject.withdrawn_at is not None:
                assert truth[user_id] == frozenset()
            if not subject.consent["marketing"]:
                assert not truth[user_id] & MARKETING_SEGMENTS
    assert any(not s.consent["marketing"] and planted.truth_at_end()[uid]
               for uid, s in planted.subjects.items())


def test_the_planted_stream_is_deterministic_and_in_time_order() -> None:
    first, second = planted_stream(seed=3), planted_stream(seed=3)
    assert first.items == second.items
    assert first.items != planted_stream(seed=4).items
    assert all(a.at <= b.at for a, b in zip(first.items, first.items[1:], strict=False))
    assert first.ticks == tuple(sorted(first.ticks)) and first.ticks[0] >= first.end


def test_a_rule_that_drifts_from_its_definition_is_caught(
        make_pipeline: MakePipeline, planted: PlantedStream, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    path = rules / "segments.yaml"
    text = path.read_text(encoding="utf-8")
    assert "hours_since(cart_last_activity) >= 24" in text
    path.write_text(text.replace("hours_since(cart_last_activity) >= 24",
                                 "hours_since(cart_last_activity) >= 48"), encoding="utf-8")
    pipeline = make_pipeline(rules_dir=rules)
    carts = PlantedStream(
        tuple(item for item in planted.items
              if _user(item.event, item.preference).startswith("planted-cart_")),
        {uid: s for uid, s in planted.subjects.items() if uid.startswith("planted-cart_")},
        planted.end, planted.ticks)
    _run(pipeline, carts)
    pipeline.tick(carts.ticks[0])
    with pytest.raises(AssertionError, match=r"\{'cart_abandoned': \(1.0, 0.0"):
        _assert_exact(_memberships(pipeline, carts), carts.truth_at(carts.ticks[0]), "")


def _user(event: Mapping[str, Any] | None, preference: ConsentUpdate | None) -> str:
    return str(event["userId"]) if event is not None else preference.subject_id if preference \
        else ""
