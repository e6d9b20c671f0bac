"""The activation gate: purpose, channel opt-in, topic subscription, frequency
cap and quiet hours, asked through ``Pipeline.may_contact`` and audited."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cdp_plugin.consent.gate import quiet_hours_end
from cdp_plugin.errors import RuleProblem, RulesError
from cdp_plugin.markers import hookimpl
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.rules.model import QuietHours
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import ConsentUpdate, ContactDecision, ContactRequest
from tests.conftest import RULES_DIR, MakePipeline, audit_records
from tests.events import ALL_GRANTED, track

USER = "user-frank@example.com"
T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # noon UTC: outside the shipped quiet hours
DAY = timedelta(days=1)

# The shipped rules, written out again so the oracle does not read them through the code.
LEGAL_BASES = {"necessary": "contract", "analytics": "consent", "personalization": "consent",
               "marketing": "consent", "advertising": "consent"}
CHANNELS = ("email", "sms", "push", "in_app", "direct_mail")
TOPICS = ("newsletter", "offers", "product_updates", "replenishment", "cart_reminders",
          "back_in_stock", "surveys")


def grant(pipeline: Pipeline, *, purposes: Mapping[str, bool] | None = None,
          channels: Mapping[str, bool] | None = None, topics: Mapping[str, bool] | None = None,
          at: datetime = T - DAY, user: str = USER, notice: str | None = None) -> None:
    pipeline.record_consent(ConsentUpdate(
        user, at, "preference_center", purposes=dict(purposes or {}),
        channels=dict(channels or {}), topics=dict(topics or {}), notice_version=notice))


def opted_in(pipeline: Pipeline, user: str = USER, at: datetime = T - DAY) -> None:
    """Marketing granted, every channel opted in, subscribed to the newsletter only."""
    grant(pipeline, purposes={"marketing": True}, channels=dict.fromkeys(CHANNELS, True),
          topics={"newsletter": True, "offers": False}, at=at, user=user)


def subject_key(pipeline: Pipeline, user: str = USER) -> str:
    return pipeline.runtime.pseudonymizer.subject(user)


def with_timezone(pipeline: Pipeline, zone: str, user: str = USER) -> None:
    pipeline.runtime.store.put_profile(subject_key(pipeline, user),
                                       {"features": {"last_timezone": zone}}, T - DAY)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def edited_rules(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped rules with the first ``old`` in purposes.yaml replaced."""
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    path = target / "purposes.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in purposes.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


# --- one reason per refusal ------------------------------------------------------


@pytest.mark.parametrize(("ledger", "request_", "reason"), [
    ({}, {}, "ok"),
    ({}, {"topic": None}, "ok"),
    ({}, {"purpose": "telepathy"}, "purpose.undefined"),
    ({"purposes": {"marketing": False}}, {}, "purpose.denied"),
    ({"purposes": {"analytics": True}}, {"purpose": "advertising"}, "purpose.unknown"),
    ({}, {"channel": "fax"}, "channel.undefined"),
    ({"channels": {"email": False}}, {}, "channel.denied"),
    ({"user": "user-grace"}, {}, "purpose.unknown"),
    ({}, {"topic": "gossip"}, "topic.undefined"),
    ({}, {"topic": "offers"}, "topic.unsubscribed"),
    ({}, {"topic": "surveys"}, "topic.unknown"),
    # The first failing check gives the reason.
    ({"purposes": {"marketing": False}, "channels": {"email": False}}, {}, "purpose.denied"),
    ({"channels": {"email": False}}, {"topic": "offers"}, "channel.denied"),
    ({}, {"channel": "fax", "topic": "gossip"}, "channel.undefined"),
])
def test_each_check_refuses_with_its_reason(make_pipeline: MakePipeline, ledger: dict[str, Any],
                                            request_: dict[str, Any], reason: str) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    changes = dict(ledger)
    user = changes.pop("user", USER)
    if changes:
        grant(pipeline, at=T - DAY / 2, **changes)
    asked = {"channel": "email", "topic": "newsletter", **request_}
    answer = pipeline.may_contact(user, asked.pop("channel"), asked.pop("topic"), at=T,
                                  **asked)
    assert answer == ContactDecision(reason == "ok", reason)


def test_channel_without_a_statement_is_unknown(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    grant(pipeline, purposes={"marketing": True}, channels={"email": True})
    assert pipeline.may_contact(USER, "sms", at=T) == ContactDecision(False, "channel.unknown")
    assert pipeline.may_contact(USER, "email", at=T) == ContactDecision(True, "ok")


def test_consent_older_than_the_maximum_age_has_expired(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline, at=T - timedelta(days=396))
    assert pipeline.may_contact(USER, "email", at=T).reason == "ok"
    answer = pipeline.may_contact(USER, "email", at=T + DAY)
    assert answer == ContactDecision(False, "purpose.expired")
    # An old denial still refuses: it is a denial, not a lapsed grant.
    grant(pipeline, purposes={"marketing": False}, at=T - timedelta(days=500), user="user-hal")
    assert pipeline.may_contact("user-hal", "email", at=T).reason == "purpose.denied"


def test_consent_under_a_superseded_notice_has_expired(make_pipeline: MakePipeline,
                                                       tmp_path: Path) -> None:
    rules = edited_rules(tmp_path, "superseded_notices: []", 'superseded_notices: ["2025-01"]')
    pipeline = make_pipeline(rules_dir=rules)
    for user, notice in ((USER, "2025-01"), ("user-ivy", "2026-01")):
        grant(pipeline, purposes={"marketing": True}, channels={"email": True}, user=user,
              notice=notice)
    assert pipeline.may_contact(USER, "email", at=T).reason == "purpose.expired"
    assert pipeline.may_contact("user-ivy", "email", at=T).reason == "ok"


def test_contract_purposes_skip_the_preference_checks(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    grant(pipeline, channels={"email": False}, topics={"offers": False})
    # Transactional mail is not marketing: no consent, opt-in or subscription needed...
    assert pipeline.may_contact(USER, "email", "offers", purpose="necessary",
                                at=T).reason == "ok"
    assert pipeline.may_contact("user-new", "sms", purpose="necessary", at=T).reason == "ok"
    # ...but names must be defined.
    assert pipeline.may_contact(USER, "fax", purpose="necessary",
                                at=T).reason == "channel.undefined"
    assert pipeline.may_contact(USER, "email", "gossip", purpose="necessary",
                                at=T).reason == "topic.undefined"
    # Caps and quiet hours are for marketing: a 23:00 one-time code still goes out,
    # and transactional sends do not use up the marketing cap.
    for hour in range(10):
        assert pipeline.may_contact(USER, "sms", purpose="necessary",
                                    at=T + hour * timedelta(minutes=7)).allowed
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert pipeline.runtime.store.sends_since(key, "sms", T - DAY) == []


def test_legitimate_interest_is_refused_only_by_an_objection(make_pipeline: MakePipeline,
                                                             tmp_path: Path) -> None:
    rules = edited_rules(tmp_path, "  analytics:\n    legal_basis: consent",
                         "  analytics:\n    legal_basis: legitimate_interest")
    pipeline = make_pipeline(rules_dir=rules)
    for user in (USER, "user-jo", "user-kim"):
        grant(pipeline, channels={"email": True}, user=user)
    grant(pipeline, purposes={"analytics": False}, user="user-jo", at=T - DAY / 2)
    grant(pipeline, purposes={"analytics": False}, user="user-kim", at=T - 1000 * DAY)

    assert pipeline.may_contact(USER, "email", purpose="analytics", at=T).reason == "ok"
    assert pipeline.may_contact("user-jo", "email", purpose="analytics",
                                at=T).reason == "purpose.denied"
    assert pipeline.may_contact("user-kim", "email", purpose="analytics",
                                at=T).reason == "purpose.denied"
    # The channel opt-in still applies.
    assert pipeline.may_contact(USER, "sms", purpose="analytics",
                                at=T).reason == "channel.unknown"


# --- frequency caps ----------------------------------------------------------------


def test_cap_counts_allowed_sends_and_frees_up_as_the_window_moves(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()  # email: at most 3 per 7 days
    opted_in(pipeline)
    for day in (0, 1, 2):
        assert pipeline.may_contact(USER, "email", "newsletter", at=T + day * DAY).allowed

    capped = pipeline.may_contact(USER, "email", at=T + 3 * DAY)
    assert capped == ContactDecision(False, "frequency_cap", T + 7 * DAY)
    just_before = T + 7 * DAY - timedelta(microseconds=1)
    assert pipeline.may_contact(USER, "email", at=just_before).reason == "frequency_cap"
    # The window is (at - 7 days, at]: the first send has left it.
    assert pipeline.may_contact(USER, "email", at=T + 7 * DAY).allowed
    assert pipeline.may_contact(USER, "email", at=T + 7 * DAY).retry_after == T + 8 * DAY

    sends = pipeline.runtime.store.sends_since(subject_key(pipeline), "email", T - DAY)
    assert sends == [T, T + DAY, T + 2 * DAY, T + 7 * DAY]


def test_cap_ignores_refused_and_unrecorded_requests(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    for minute in range(5):
        at = T + timedelta(minutes=minute)
        assert pipeline.may_contact(USER, "email", at=at, record=False).allowed
        assert pipeline.may_contact(USER, "email", "offers", at=at).reason == "topic.unsubscribed"
        assert not pipeline.may_contact(USER, "email", at=at, purpose="telepathy").allowed

    assert pipeline.runtime.store.sends_since(subject_key(pipeline), "email", T - DAY) == []
    for minute in range(3):
        assert pipeline.may_contact(USER, "email",
                                    at=T + timedelta(hours=1, minutes=minute)).allowed
    assert pipeline.may_contact(USER, "email", at=T + timedelta(hours=2)).reason == (
        "frequency_cap")


def _subject_caps(pipeline: Pipeline, **caps: tuple[int, int]) -> None:
    """Store caps as the preference center does (channel=(max, per_days))."""
    pipeline.runtime.store.put_preferences(subject_key(pipeline), {"frequency_caps": {
        channel: {"max": most, "per_days": days, "captured_at": (T - DAY).isoformat()}
        for channel, (most, days) in caps.items()}}, T - DAY)


def test_a_stricter_cap_the_subject_chose_is_enforced(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()  # the rules: email at most 3 per 7 days
    opted_in(pipeline)
    _subject_caps(pipeline, email=(1, 7))
    assert pipeline.may_contact(USER, "email", at=T).allowed
    assert pipeline.may_contact(USER, "email", at=T + DAY) == ContactDecision(
        False, "frequency_cap", T + 7 * DAY)


def test_a_looser_cap_the_subject_chose_does_not_lift_the_rules_cap(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    _subject_caps(pipeline, email=(10, 1))
    for hour in range(3):
        assert pipeline.may_contact(USER, "email", at=T + timedelta(hours=hour)).allowed
    assert pipeline.may_contact(USER, "email", at=T + 3 * DAY).reason == "frequency_cap"


def test_with_two_full_caps_retry_waits_for_both(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()  # the rules: email 3 per 7 days; the subject: 2 per 30 days
    opted_in(pipeline)
    _subject_caps(pipeline, email=(2, 30))
    assert pipeline.may_contact(USER, "email", at=T).allowed
    assert pipeline.may_contact(USER, "email", at=T + DAY).allowed
    assert pipeline.may_contact(USER, "email", at=T + 2 * DAY) == ContactDecision(
        False, "frequency_cap", T + 30 * DAY)
    _subject_caps(pipeline, email=(0, 1))
    assert pipeline.may_contact(USER, "email", at=T + 40 * DAY) == ContactDecision(
        False, "frequency_cap")


def test_a_malformed_stored_cap_leaves_the_rules_cap(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    pipeline.runtime.store.put_preferences(subject_key(pipeline), {"frequency_caps": {
        "email": {"max": "1", "per_days": 0}}}, T - DAY)
    for hour in range(3):
        assert pipeline.may_contact(USER, "email", at=T + timedelta(hours=hour)).allowed
    assert pipeline.may_contact(USER, "email", at=T + DAY).reason == "frequency_cap"


def test_cap_is_per_channel_and_per_subject(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()  # push: at most 1 per day
    opted_in(pipeline)
    opted_in(pipeline, user="user-lou")
    assert pipeline.may_contact(USER, "push", at=T).allowed
    assert pipeline.may_contact(USER, "push", at=T + timedelta(hours=1)) == ContactDecision(
        False, "frequency_cap", T + DAY)
    assert pipeline.may_contact(USER, "email", at=T + timedelta(hours=1)).allowed
    assert pipeline.may_contact("user-lou", "push", at=T + timedelta(hours=1)).allowed


# --- quiet hours ---------------------------------------------------------------------


@pytest.mark.parametrize(("at", "retry_after"), [
    (utc(2026, 11, 20, 1, 59), None),                           # 20:59 in New York
    (utc(2026, 11, 20, 2, 0), utc(2026, 11, 20, 13, 0)),        # 21:00: quiet until 08:00
    (utc(2026, 11, 20, 4, 59), utc(2026, 11, 20, 13, 0)),       # 23:59
    (utc(2026, 11, 20, 5, 0), utc(2026, 11, 20, 13, 0)),        # midnight
    (utc(2026, 11, 20, 12, 59, 59), utc(2026, 11, 20, 13, 0)),  # 07:59:59
    (utc(2026, 11, 20, 13, 0), None),                           # 08:00
])
def test_quiet_hours_wrap_midnight_in_the_subjects_time_zone(
        make_pipeline: MakePipeline, at: datetime, retry_after: datetime | None) -> None:
    pipeline = make_pipeline()  # quiet 21:00-08:00 on sms and push
    opted_in(pipeline)
    with_timezone(pipeline, "America/New_York")

    answer = pipeline.may_contact(USER, "sms", at=at)
    if retry_after is None:
        assert answer == ContactDecision(True, "ok")
    else:
        assert answer == ContactDecision(False, "quiet_hours", retry_after)
        assert answer.retry_after is not None and answer.retry_after.utcoffset() == timedelta(0)
        assert pipeline.runtime.store.sends_since(subject_key(pipeline), "sms", at - DAY) == []
    # Email is not covered by the quiet hours.
    assert pipeline.may_contact(USER, "email", at=at).allowed


def test_time_zone_comes_from_the_subjects_events(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    event = track("m-tz", USER, "Product Viewed", consent=ALL_GRANTED)
    event["context"]["timezone"] = "Asia/Tokyo"
    assert pipeline.process(event).forwarded

    answer = pipeline.may_contact(USER, "push", at=utc(2026, 11, 20, 13, 0))  # 22:00 in Tokyo
    assert answer == ContactDecision(False, "quiet_hours", utc(2026, 11, 20, 23, 0))
    # At 13:00 UTC a subject without a known time zone (UTC) is not in quiet hours.
    opted_in(pipeline, user="user-mo")
    assert pipeline.may_contact("user-mo", "push", at=utc(2026, 11, 20, 13, 0)).allowed


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", "Europe"])
def test_unknown_time_zone_falls_back_to_the_default(make_pipeline: MakePipeline,
                                                      zone: str) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    with_timezone(pipeline, zone)
    assert pipeline.may_contact(USER, "sms", at=utc(2026, 11, 20, 7, 0)) == ContactDecision(
        False, "quiet_hours", utc(2026, 11, 20, 8, 0))
    assert pipeline.may_contact(USER, "sms", at=utc(2026, 11, 20, 8, 0)).allowed


def test_default_time_zone_comes_from_the_rules(make_pipeline: MakePipeline,
                                                tmp_path: Path) -> None:
    rules = edited_rules(tmp_path, "default_timezone: UTC", "default_timezone: Asia/Kolkata")
    pipeline = make_pipeline(rules_dir=rules)
    opted_in(pipeline)
    # 20:00 UTC is 01:30 in Kolkata: quiet until 08:00 there, 02:30 UTC.
    assert pipeline.may_contact(USER, "sms", at=utc(2026, 11, 20, 20, 0)) == ContactDecision(
        False, "quiet_hours", utc(2026, 11, 21, 2, 30))


def test_quiet_hours_end_across_a_daylight_saving_change(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline, at=utc(2026, 3, 1, 0, 0))
    with_timezone(pipeline, "Europe/Berlin")
    # 22:30 CET on 28 March; clocks go forward that night, so 08:00 is CEST (UTC+2).
    answer = pipeline.may_contact(USER, "sms", at=utc(2026, 3, 28, 21, 30))
    assert answer == ContactDecision(False, "quiet_hours", utc(2026, 3, 29, 6, 0))


def test_quiet_hours_end_in_a_repeated_hour() -> None:
    quiet = QuietHours(time(0, 30), time(1, 30), frozenset({"sms"}))
    new_york = ZoneInfo("America/New_York")
    # On 1 November 2026 clocks in New York go back from 02:00 EDT to 01:00 EST.
    assert quiet_hours_end(quiet, utc(2026, 11, 1, 5, 10), new_york) == utc(2026, 11, 1, 5, 30)
    assert quiet_hours_end(quiet, utc(2026, 11, 1, 6, 10), new_york) == utc(2026, 11, 1, 6, 30)
    assert quiet_hours_end(quiet, utc(2026, 11, 1, 6, 30), new_york) is None


def test_quiet_hours_within_one_day() -> None:
    quiet = QuietHours(time(12, 0), time(14, 0), frozenset({"sms"}))
    assert quiet_hours_end(quiet, utc(2026, 11, 20, 11, 59), UTC) is None
    assert quiet_hours_end(quiet, utc(2026, 11, 20, 12, 0), UTC) == utc(2026, 11, 20, 14, 0)
    assert quiet_hours_end(quiet, utc(2026, 11, 20, 13, 59), UTC) == utc(2026, 11, 20, 14, 0)
    assert quiet_hours_end(quiet, utc(2026, 11, 20, 14, 0), UTC) is None
    assert quiet_hours_end(quiet, utc(2026, 11, 20, 23, 0), UTC) is None


def test_cap_is_checked_before_quiet_hours(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    assert pipeline.may_contact(USER, "push", at=T).allowed
    late = utc(2026, 11, 20, 22, 0)
    assert pipeline.may_contact(USER, "push", at=late).reason == "frequency_cap"
    assert pipeline.may_contact(USER, "push", at=late + DAY).retry_after == utc(2026, 11, 22, 8, 0)


# --- the host's side: audit, failing and missing gates ---------------------------------


class BrokenGate:
    """A gate plugin that fails."""

    __name__ = "broken_gate"

    @hookimpl
    def cdp_check_contact(self, request: ContactRequest, runtime: Runtime) -> None:
        raise RuntimeError("gate down")


class DeferringGate:
    """A gate plugin that leaves every answer to the next one."""

    __name__ = "deferring_gate"

    @hookimpl
    def cdp_check_contact(self, request: ContactRequest, runtime: Runtime) -> None:
        return None


def test_every_answer_is_audited_without_the_subjects_id(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    pipeline.may_contact(USER, "email", "newsletter", at=T)
    pipeline.may_contact(USER, "email", "offers", at=T)
    pipeline.may_contact(USER, "sms", at=utc(2026, 11, 20, 23, 0), purpose="marketing")

    records = audit_records(pipeline, "activation.checked")
    assert [(r["channel"], r["topic"], r["purpose"], r["allowed"], r["reason"])
            for r in records] == [
        ("email", "newsletter", "marketing", True, "ok"),
        ("email", "offers", "marketing", False, "topic.unsubscribed"),
        ("sms", None, "marketing", False, "quiet_hours"),
    ]
    assert {r["subject"] for r in records} == {subject_key(pipeline)}
    assert all(USER not in repr(r) for r in audit_records(pipeline))


def test_a_failing_gate_plugin_answers_no(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(BrokenGate())
    opted_in(pipeline)
    assert pipeline.may_contact(USER, "email", at=T) == ContactDecision(False, "plugin_error")

    [error] = audit_records(pipeline, "plugin.error")
    assert (error["plugin"], error["hook"], error["error_type"]) == (
        "broken_gate", "cdp_check_contact", "RuntimeError")
    [checked] = audit_records(pipeline, "activation.checked")
    assert (checked["allowed"], checked["reason"]) == (False, "plugin_error")
    assert pipeline.runtime.store.sends_since(subject_key(pipeline), "email", T - DAY) == []


def test_a_plugin_returning_none_defers_to_the_builtin_gate(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(DeferringGate())
    opted_in(pipeline)
    assert pipeline.may_contact(USER, "email", at=T) == ContactDecision(True, "ok")
    assert pipeline.may_contact(USER, "sms", at=T, purpose="advertising").reason == (
        "purpose.unknown")


def test_without_the_builtin_gate_the_answer_is_no(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(blocked_plugins=("cdp_plugin.stages.activation",))
    opted_in(pipeline)
    assert pipeline.may_contact(USER, "email", at=T) == ContactDecision(False, "no_gate")
    [checked] = audit_records(pipeline, "activation.checked")
    assert checked["reason"] == "no_gate"


def test_a_naive_time_answers_no(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    opted_in(pipeline)
    answer = pipeline.may_contact(USER, "email", at=datetime(2026, 11, 20, 12, 0))
    assert answer == ContactDecision(False, "plugin_error")
    [error] = audit_records(pipeline, "plugin.error")
    assert error["plugin"] == "cdp_plugin.stages.activation"


# --- property: an allowed contact always has the subject's permission --------------------

_users = itertools.count()


def _ledger(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, bool]]:
    """Each name granted, denied or without a statement (granted more often, so
    that requests get past the first checks)."""
    state = st.sampled_from([True, True, False, None])
    return st.fixed_dictionaries({name: state for name in names}).map(
        lambda drawn: {name: value for name, value in drawn.items() if value is not None})


def _oracle(purposes: Mapping[str, bool], channels: Mapping[str, bool],
            topics: Mapping[str, bool], purpose: str, channel: str, topic: str | None) -> str:
    """The expected reason, from the specification and the shipped rules written out above."""
    if purpose not in LEGAL_BASES:
        return "purpose.undefined"
    preferences = LEGAL_BASES[purpose] != "contract"
    if preferences and purpose not in purposes:
        return "purpose.unknown"
    if preferences and not purposes[purpose]:
        return "purpose.denied"
    if channel not in CHANNELS:
        return "channel.undefined"
    if preferences and channel not in channels:
        return "channel.unknown"
    if preferences and not channels[channel]:
        return "channel.denied"
    if topic is not None and topic not in TOPICS:
        return "topic.undefined"
    if topic is not None and preferences and topic not in topics:
        return "topic.unknown"
    if topic is not None and preferences and not topics[topic]:
        return "topic.unsubscribed"
    return "ok"


@pytest.fixture
def gate_pipeline(make_pipeline: MakePipeline) -> Pipeline:
    """One pipeline shared by every example of a property test; each example
    uses a subject of its own."""
    return make_pipeline()


_GRANTED = ({"marketing": True}, {"email": True}, {"offers": True})


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ledger=st.tuples(_ledger(tuple(LEGAL_BASES)), _ledger(CHANNELS), _ledger(TOPICS)),
    purpose=st.sampled_from([*LEGAL_BASES, "telepathy"]),
    channel=st.sampled_from([*CHANNELS, "fax"]),
    topic=st.none() | st.sampled_from([*TOPICS, "gossip"]),
    record=st.booleans(),
)
# Each way past all but the last check, whatever the random draws reach.
@example(ledger=_GRANTED, purpose="marketing", channel="email", topic="offers", record=True)
@example(ledger=_GRANTED, purpose="marketing", channel="email", topic="surveys", record=True)
@example(ledger=({"marketing": True}, {"email": True}, {"offers": False}), purpose="marketing",
         channel="email", topic="offers", record=True)
@example(ledger=_GRANTED, purpose="marketing", channel="sms", topic=None, record=True)
@example(ledger=({"marketing": True}, {"email": False}, {}), purpose="marketing",
         channel="email", topic=None, record=False)
@example(ledger=({"marketing": False}, {"email": True}, {}), purpose="marketing",
         channel="email", topic=None, record=False)
@example(ledger=_GRANTED, purpose="analytics", channel="email", topic=None, record=True)
@example(ledger=({}, {"email": False}, {"offers": False}), purpose="necessary",
         channel="email", topic="offers", record=True)
def test_allowed_contact_always_has_permission(
        gate_pipeline: Pipeline,
        ledger: tuple[dict[str, bool], dict[str, bool], dict[str, bool]],
        purpose: str, channel: str, topic: str | None, record: bool) -> None:
    pipeline = gate_pipeline
    purposes, channels, topics = ledger
    user = f"user-{next(_users)}"  # a fresh subject: no sends, no profile (UTC, noon)
    grant(pipeline, purposes=purposes, channels=channels, topics=topics, user=user)

    answer = pipeline.may_contact(user, channel, topic, purpose=purpose, at=T, record=record)

    if answer.allowed:
        assert purpose in LEGAL_BASES and channel in CHANNELS
        assert topic is None or topic in TOPICS
        if LEGAL_BASES[purpose] != "contract":
            assert purposes.get(purpose) is True
            assert channels.get(channel) is True
            assert topic is None or topics.get(topic) is True
    # No sends and no quiet hours here, so the ledger alone decides.
    assert answer.reason == _oracle(purposes, channels, topics, purpose, channel, topic)
    assert answer.allowed is (answer.reason == "ok")


# --- the quiet_hours rules ------------------------------------------------------------


def _problems(rules: Path) -> list[RuleProblem]:
    with pytest.raises(RulesError) as caught:
        load_rules(rules)
    return caught.value.problems


def test_shipped_quiet_hours() -> None:
    quiet = load_rules(RULES_DIR).purposes.quiet_hours
    assert quiet == QuietHours(time(21, 0), time(8, 0), frozenset({"sms", "push"}), "UTC")


def test_quiet_hours_without_channels_cover_every_channel(tmp_path: Path) -> None:
    rules = edited_rules(tmp_path, "  channels: [sms, push]\n", "")
    quiet = load_rules(rules).purposes.quiet_hours
    assert quiet is not None and quiet.channels == frozenset(CHANNELS)


def test_rules_without_quiet_hours_have_none(tmp_path: Path) -> None:
    rules = edited_rules(tmp_path, 'quiet_hours:\n  start: "21:00"\n  end: "08:00"\n'
                         "  channels: [sms, push]\n  default_timezone: UTC\n", "")
    assert load_rules(rules).purposes.quiet_hours is None


@pytest.mark.parametrize(("old", "new", "key", "message", "on_line"), [
    ('start: "21:00"', "start: 21:00", "quiet_hours.start", "in quotes", "start: 21:00"),
    ('end: "08:00"', 'end: "24:00"', "quiet_hours.end", '"00:00" to "23:59"', 'end: "24'),
    ('end: "08:00"', 'end: "8:00"', "quiet_hours.end", '"HH:MM"', 'end: "8:'),
    ('end: "08:00"', 'end: "21:00"', "quiet_hours.end", "must differ from start", 'end: "21'),
    ("channels: [sms, push]", "channels: [sms, fax]", "quiet_hours.channels.1",
     "unknown channel 'fax'", "[sms, fax]"),
    ("channels: [sms, push]", "channels: [sms, sms]", "quiet_hours.channels.1",
     "duplicate channel 'sms'", "[sms, sms]"),
    ("channels: [sms, push]", "channels: []", "quiet_hours.channels", "at least one channel",
     "channels: []"),
    ("default_timezone: UTC", "default_timezone: Mars/Olympus", "quiet_hours.default_timezone",
     "unknown time zone 'Mars/Olympus'", "Mars/Olympus"),
    ("default_timezone: UTC", "default_timezone: UTC\n  colour: blue", "quiet_hours.colour",
     "unknown key", "colour: blue"),
    ('  start: "21:00"\n', "", "quiet_hours.start", "required key is missing", "quiet_hours:"),
])
def test_quiet_hours_mistakes_are_reported_with_file_key_and_line(
        tmp_path: Path, old: str, new: str, key: str, message: str, on_line: str) -> None:
    rules = edited_rules(tmp_path, old, new)
    text = (rules / "purposes.yaml").read_text(encoding="utf-8")
    [problem] = _problems(rules)
    assert (problem.file, problem.key) == (str(rules / "purposes.yaml"), key)
    assert message in problem.message
    [line] = [number for number, line in enumerate(text.splitlines(), 1) if on_line in line]
    assert problem.line == line
