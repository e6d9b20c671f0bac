"""The synthetic ingest stream: cdp_plugin.synthetic."""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.errors import ConfigError, InvalidEvent
from cdp_plugin.events import parse_event
from cdp_plugin.synthetic import (
    NOTICE_HASH,
    NOTICE_TEXT,
    NOTICE_VERSION,
    StreamItem,
    generate_stream,
    summary,
    write_jsonl,
)
from cdp_plugin.types import EVENT_TYPES

SUBJECTS = 300
DAYS = 30
START = datetime(2026, 10, 1, tzinfo=UTC)
_DOC_NETS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))
_PURPOSES = {"analytics", "personalization", "marketing", "advertising"}
_CATEGORY = {"analytics": "Analytics", "personalization": "Personalization",
             "marketing": "Marketing", "advertising": "Advertising"}


@pytest.fixture(scope="module")
def items() -> list[StreamItem]:
    return list(generate_stream(seed=7, subjects=SUBJECTS, days=DAYS))


@pytest.fixture(scope="module")
def counts(items: list[StreamItem]) -> dict[str, int]:
    return summary(items)


def _events(items: list[StreamItem]) -> list[dict[str, Any]]:
    return [item.event for item in items if item.event is not None]


def _malformed(event: dict[str, Any]) -> bool:
    try:
        parse_event(event, lambda subject: subject)
    except InvalidEvent:
        return True
    return False


def _valid(items: list[StreamItem]) -> list[dict[str, Any]]:
    return [e for e in _events(items) if not _malformed(e)]


def _withdrawals(items: list[StreamItem]) -> dict[str, tuple[datetime, str]]:
    """Subject id -> (when, purpose) of a denial that takes back an earlier grant."""
    granted: set[tuple[str, str]] = set()
    withdrawn: dict[str, tuple[datetime, str]] = {}
    for item in items:
        update = item.preference
        if update is None:
            continue
        for purpose, ok in update.purposes.items():
            if ok:
                granted.add((update.subject_id, purpose))
            elif (update.subject_id, purpose) in granted:
                withdrawn[update.subject_id] = (update.captured_at, purpose)
    return withdrawn


def _subject_of(items: list[StreamItem]) -> dict[str, str]:
    """Every userId and anonymousId, mapped to the subject's anonymousId."""
    owner: dict[str, str] = {}
    for event in _valid(items):
        anonymous = event.get("anonymousId") or event.get("previousId")
        if anonymous is not None:
            owner[anonymous] = anonymous
            if "userId" in event:
                owner[event["userId"]] = anonymous
    return owner


def test_same_seed_gives_byte_identical_jsonl(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    written = write_jsonl(generate_stream(seed=11, subjects=60), first)
    assert write_jsonl(generate_stream(seed=11, subjects=60), second) == written
    assert first.read_bytes() == second.read_bytes()
    assert written == len(first.read_text(encoding="utf-8").splitlines()) > 1000


def test_different_seed_gives_a_different_stream(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(generate_stream(seed=1, subjects=60), first)
    write_jsonl(generate_stream(seed=2, subjects=60), second)
    assert first.read_bytes() != second.read_bytes()


def test_write_jsonl_writes_only_events(items: list[StreamItem], tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert write_jsonl(items, path) == len(_events(items))
    assert len(path.read_bytes().splitlines()) == len(_events(items))


def test_items_are_in_time_order_inside_the_period(items: list[StreamItem]) -> None:
    assert all(a.at <= b.at for a, b in itertools.pairwise(items))
    assert items[0].at >= START and items[-1].at < START + timedelta(days=DAYS)
    assert all((item.event is None) != (item.preference is None) for item in items)


def test_item_time_is_the_event_timestamp_except_for_replays(items: list[StreamItem]) -> None:
    seen: set[str] = set()
    for item in items:
        event = item.event
        if event is None or _malformed(event):
            continue
        stamp = datetime.fromisoformat(event["timestamp"])
        if event["messageId"] in seen:
            assert item.at > stamp
        else:
            assert item.at == stamp
            seen.add(event["messageId"])


def test_scale_and_proportions(items: list[StreamItem], counts: dict[str, int]) -> None:
    events = counts["events"]
    assert 20 * SUBJECTS < events < 66 * SUBJECTS
    assert 0.25 < counts["with_consent"] / events < 0.55
    assert 0.002 < counts["malformed"] / events < 0.01
    assert 0.001 < counts["replays"] / events < 0.006
    assert counts["track"] > counts["page"] > 0 and counts["screen"] > 0
    assert counts["identify"] > 0 and counts["alias"] > 0
    owner = _subject_of(items)
    subjects = set(owner.values())
    assert len(subjects) > 0.9 * SUBJECTS
    updated = {owner[item.preference.subject_id] for item in items if item.preference}
    assert 0.25 < len(updated) / len(subjects) < 0.45
    stated = {owner[e.get("anonymousId", "")] for e in _valid(items)
              if "consent" in e["context"]}
    assert 0.2 < len(subjects - updated - stated) / len(subjects) < 0.55


def test_every_well_formed_event_has_the_segment_fields(items: list[StreamItem]) -> None:
    valid = _valid(items)
    assert len(valid) > 0.98 * len(_events(items))
    for event in valid:
        assert event["type"] in EVENT_TYPES
        assert isinstance(event["messageId"], str) and event["messageId"]
        assert event.get("userId") or event.get("anonymousId")
        assert event["timestamp"].endswith("Z") and event["sentAt"] >= event["timestamp"]
        context = event["context"]
        assert {"ip", "userAgent", "locale", "timezone", "channel"} <= context.keys()
        assert context["device"]["type"] in {"ios", "android", "web"}
        assert context["channel"] in {"browser", "mobile", "server"}
        assert any(ipaddress.ip_address(context["ip"]) in net for net in _DOC_NETS)
        assert context["location"]["country"] in {"DE", "FR", "NL", "GB", "CH", "US", "BR", "JP"}
        if context["channel"] == "browser":
            assert context["page"]["path"].startswith("/")
        if event["type"] == "track":
            assert isinstance(event["event"], str)
        if event["type"] == "alias":
            assert event["previousId"] and event["userId"]
        if event["type"] == "identify":
            assert isinstance(event["traits"], dict)
        elif event["type"] != "alias":
            assert isinstance(event["properties"], dict)


def test_context_mix(items: list[StreamItem]) -> None:
    contexts = [e["context"] for e in _valid(items)]
    assert {c["location"]["country"] for c in contexts} == {
        "DE", "FR", "NL", "GB", "CH", "US", "BR", "JP"}
    regions = {c["location"].get("region") for c in contexts}
    assert {"US-CA", "US-NY"} <= regions and None in regions
    assert {c["device"]["type"] for c in contexts} == {"ios", "android", "web"}
    assert any(":" in c["ip"] for c in contexts) and any("." in c["ip"] for c in contexts)
    assert len({c["locale"] for c in contexts}) >= 8


def test_mobile_sessions_are_short_and_desktop_reads_long(items: list[StreamItem]) -> None:
    valid = _valid(items)
    screens = [e["properties"]["time_on_screen_s"] for e in valid if e["type"] == "screen"]
    pages = [e["properties"]["time_on_page_s"] for e in valid if e["type"] == "page"]
    assert statistics.median(screens) * 3 < statistics.median(pages)
    assert {e["event"] for e in valid if e["type"] == "track"} >= {
        "Application Opened", "Products Searched", "Product Viewed", "Product Added",
        "Checkout Started", "Order Completed", "Email Opened", "Email Link Clicked",
        "Signed Up", "Profile Completed", "Tutorial Completed", "Tutorial Skipped",
        "Feature Used", "Review Submitted", "Promotion Viewed"}


def test_malformed_messages_of_each_kind(items: list[StreamItem]) -> None:
    broken = [e for e in _events(items) if _malformed(e)]
    assert len(broken) == summary(items)["malformed"]
    assert any("messageId" not in e for e in broken)
    assert any("messageId" in e and not isinstance(e["properties"], dict)
               for e in broken if "properties" in e)
    assert any(e["type"] == "track" and "event" not in e for e in broken)
    assert any(isinstance(e.get("timestamp"), str) and not _parses(e["timestamp"])
               for e in broken)


def _parses(stamp: str) -> bool:
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return "T" in stamp


def test_replays_repeat_an_earlier_message_exactly(items: list[StreamItem]) -> None:
    first: dict[str, dict[str, Any]] = {}
    replays = 0
    for event in _valid(items):
        earlier = first.setdefault(event["messageId"], event)
        if earlier is not event:
            assert earlier == event
            replays += 1
    assert replays == summary(items)["replays"] > 0


def test_messages_are_independent_objects(items: list[StreamItem]) -> None:
    valid = _valid(items)
    by_id = defaultdict(list)
    for event in valid:
        by_id[event["messageId"]].append(event)
    original, replay = next(pair for pair in by_id.values() if len(pair) == 2)
    assert original is not replay and original["context"] is not replay["context"]
    assert original.get("properties", original.get("traits")) is not replay.get(
        "properties", replay.get("traits"))
    assert valid[0]["context"]["location"] is not valid[1]["context"]["location"]


def test_personas_show_up(items: list[StreamItem]) -> None:
    owner = _subject_of(items)
    by_subject: dict[str, Counter[str]] = defaultdict(Counter)
    for event in _valid(items):
        if event["type"] == "track":
            subject = owner[event.get("anonymousId") or event["userId"]]
            by_subject[subject][event["event"]] += 1
    assert any(c["Order Completed"] >= 3 for c in by_subject.values())
    assert any(c["Product Added"] and not c["Order Completed"] for c in by_subject.values())
    assert any(c["Signed Up"] and c["Tutorial Skipped"] for c in by_subject.values())
    orders = [e for e in _valid(items) if e.get("event") == "Order Completed"]
    skus = [{p["product_id"][:3] for p in e["properties"]["products"]} for e in orders]
    assert any(len(s) > 1 and any(sku.startswith("AC-") for sku in s) for s in skus)
    sale = [datetime.fromisoformat(e["timestamp"]) for e in orders
            if e["properties"].get("coupon") == "AUTUMN20"]
    assert sale and all(START + timedelta(days=19) <= t < START + timedelta(days=27)
                        for t in sale)


def test_dormant_subjects_stop_after_the_first_days(items: list[StreamItem]) -> None:
    owner = _subject_of(items)
    last: dict[str, datetime] = {}
    for item in items:
        if item.event is not None and not _malformed(item.event):
            key = item.event.get("anonymousId") or item.event["userId"]
            last[owner[key]] = item.at
    early = [s for s, t in last.items() if t < START + timedelta(days=5)]
    assert len(early) > 0.05 * len(last)


def test_anonymous_visitors_identify_later(items: list[StreamItem]) -> None:
    linked: dict[str, datetime] = {}
    before: set[str] = set()
    after: set[str] = set()
    for event in _valid(items):
        anonymous = event.get("anonymousId")
        at = datetime.fromisoformat(event["timestamp"])
        if event["type"] == "alias":
            linked.setdefault(event["previousId"], at)
        elif anonymous in linked and "userId" in event:
            after.add(anonymous)
        elif anonymous is not None and "userId" not in event:
            before.add(anonymous)
    assert len(before & after) > 10


def test_personal_data_is_present_and_fake(items: list[StreamItem]) -> None:
    valid = _valid(items)
    traits = [e["traits"] for e in valid if e["type"] == "identify"]
    assert traits and all(t["email"].endswith(("@example.com", "@example.org")) for t in traits)
    assert all("555-01" in t["phone"] and t["name"] and t["address"]["city"] for t in traits)
    assert all("age" in t or "birthday" in t for t in traits)
    comments = [e["properties"].get("comment", "") for e in valid
                if e.get("event") == "Review Submitted"]
    assert any("@example." in c for c in comments) and any("555-01" in c for c in comments)


def test_preference_updates(items: list[StreamItem]) -> None:
    updates = [item.preference for item in items if item.preference is not None]
    assert updates
    for update in updates:
        assert update.source == "preference_center" and update.notice_version == NOTICE_VERSION
        assert update.purposes and set(update.purposes) <= _PURPOSES
        assert set(update.channels) <= {"email", "sms", "push"}
        assert dict(update.proof) == {"form_id": "pc-main", "text_hash": NOTICE_HASH,
                                      "capture_method": "web_form"}
        assert update.captured_at.tzinfo is not None
    assert hashlib.sha256(NOTICE_TEXT.encode()).hexdigest() == NOTICE_HASH
    assert any(all(u.purposes.values()) for u in updates)
    assert any(not all(u.purposes.values()) for u in updates)


def test_withdrawals_fall_between_events_and_later_events_agree(
        items: list[StreamItem], counts: dict[str, int]) -> None:
    withdrawn = _withdrawals(items)
    assert len(withdrawn) == counts["withdrawals"] >= 3
    around: Counter[tuple[str, bool]] = Counter()
    for event in _valid(items):
        user = event.get("userId")
        if user not in withdrawn:
            continue
        at, purpose = withdrawn[user]
        stamp = datetime.fromisoformat(event["timestamp"])
        around[user, stamp > at] += 1
        consent = event["context"].get("consent")
        if consent is not None and stamp > at:
            assert consent["categoryPreferences"][_CATEGORY[purpose]] is False
    assert any(around[user, False] and around[user, True] for user in withdrawn)


def test_in_event_consent_is_consistent_per_subject(items: list[StreamItem]) -> None:
    withdrawn = _withdrawals(items)
    seen: dict[str, dict[str, bool]] = {}
    for event in _valid(items):
        consent = event["context"].get("consent")
        subject = event.get("anonymousId")
        if consent is None or subject is None or event.get("userId") in withdrawn:
            continue
        assert set(consent["categoryPreferences"]) == set(_CATEGORY.values())
        assert seen.setdefault(subject, consent["categoryPreferences"]) == \
            consent["categoryPreferences"]


def test_invalid_arguments_are_rejected_eagerly() -> None:
    with pytest.raises(ConfigError):
        generate_stream(subjects=0)
    with pytest.raises(ConfigError):
        generate_stream(days=0)
    with pytest.raises(ConfigError):
        generate_stream(start=datetime(2026, 10, 1))  # naive on purpose


def test_a_short_period_still_works() -> None:
    items = list(generate_stream(seed=3, subjects=20, days=1))
    assert items and all(START <= i.at < START + timedelta(days=1) for i in items)
