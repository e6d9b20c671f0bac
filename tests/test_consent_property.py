"""Property: no event is ever forwarded for a purpose without a valid basis.

Random consent histories (applied in random order), jurisdictions, in-event
signals and events go through a real pipeline; every forwarded outcome,
including events released from quarantine later, is checked against an
oracle written from the rules' and the README's text, not from the
implementation.

Times are hostile: events are dated in the past, just now, in the far future
(up to year 9999) or the far past (down to year 1), in mixed UTC offsets;
ledger statements are made months ago or minutes before receipt, in mixed
offsets too. Category ids come in any case, from the shipped OneTrust preset,
as purpose names, as Osano's ``"ACCEPT"``/``"DENY"``, or unknown.

Examples per run: ``CDP_PLUGIN_PROPERTY_EXAMPLES`` (default 10,000). The
README documents the one-million-example run.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.types import ConsentUpdate, Outcome, Status
from tests.conftest import RULES_DIR, MakePipeline

EXAMPLES = int(os.environ.get("CDP_PLUGIN_PROPERTY_EXAMPLES", "10000"))
RULES = load_rules(RULES_DIR)
CONSENT_PURPOSES = ("analytics", "personalization", "marketing", "advertising")
ORACLE_CATEGORIES = {
    # The shipped rules' text: purpose names, the explicit entries, the onetrust preset.
    "necessary": {"necessary"}, "analytics": {"analytics"},
    "personalization": {"personalization"}, "marketing": {"marketing"},
    "advertising": {"advertising"}, "strictly necessary": {"necessary"},
    "performance": {"analytics"}, "functional": {"personalization"},
    "targeting": {"advertising"}, "c0001": {"necessary"}, "c0002": {"analytics"},
    "c0003": {"personalization"}, "c0004": {"advertising", "marketing"},
    "c0005": {"advertising"}, "spd_bg": {"advertising"},
    "targeting cookies": {"advertising", "marketing"},
}
CATEGORIES = ("Analytics", "Personalization", "Marketing", "Advertising", "Targeting", "C0002",
              "marketing", "ADVERTISING", "c0004", "C0004", " Functional ", "SPD_BG",
              "Targeting Cookies", "ESSENTIAL", "email_mktg")
ANSWERS = (True, False, "ACCEPT", "DENY", "deny", "maybe", 1, None)
OFFSETS = tuple(timezone(timedelta(minutes=m)) for m in (0, 330, -480, 840, -720, 45))
SKEW = timedelta(minutes=5)
FAR = (datetime(1, 1, 2, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
       datetime(2099, 1, 1, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
LOCATIONS = (("DE", None), ("GB", None), ("US", "US-CA"), ("US", "US-VA"), ("US", None),
             ("BR", None), (None, None))
EVENTS = (("track", "Order Completed"), ("track", "Product Added"), ("track", "Email Opened"),
          ("page", "Home"), ("identify", None), ("screen", "Cart"))
BASE = datetime(2026, 6, 1, tzinfo=UTC)
MAX_AGE = timedelta(days=RULES.purposes.consent.max_age_days)


@dataclass(frozen=True)
class LedgerEntry:
    captured_at: datetime
    purposes: dict[str, bool]
    order: int


# Times are built per example from "now" (``Now`` below): ("base", days), ("recent",
# minutes before now), ("future", days after now) or ("far", index into FAR).
update_times = st.one_of(
    st.tuples(st.just("base"), st.integers(min_value=-500, max_value=60)),
    st.tuples(st.just("recent"), st.sampled_from((1, 2, 4, 6, 10, 120))),
)
event_times = st.one_of(
    st.tuples(st.just("base"), st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("recent"), st.sampled_from((0, 3, 7, 60))),
    st.tuples(st.just("future"), st.integers(min_value=1, max_value=40_000)),
    st.tuples(st.just("far"), st.integers(min_value=0, max_value=len(FAR) - 1)),
)
updates = st.tuples(
    update_times,
    st.dictionaries(st.sampled_from(CONSENT_PURPOSES), st.booleans(), min_size=1),
    st.sampled_from(OFFSETS),
)
events = st.tuples(
    st.sampled_from(EVENTS),
    event_times,
    st.none() | st.dictionaries(st.sampled_from(CATEGORIES), st.sampled_from(ANSWERS)),
    st.booleans(),
    st.sampled_from(LOCATIONS),
    st.sampled_from(OFFSETS),
)
operations = st.lists(st.one_of(updates.map(lambda u: ("update", u)),
                                events.map(lambda e: ("event", e))), min_size=1, max_size=7)


def _answer(value: Any) -> bool | None:
    """A category's answer as the README defines it: a boolean, or Osano's words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"accept": True, "deny": False}.get(value.strip().casefold())
    return None


def _oldest_valid(at: datetime) -> datetime:
    try:
        return at - MAX_AGE
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def _oracle_allows(purpose: str, event: dict[str, Any], headers: dict[str, str],
                   ledger: list[LedgerEntry], received: datetime) -> bool:
    """Whether ``purpose`` has a valid basis for ``event``, read off the rules and
    the README: an in-event signal counts as made at the event's time but no later
    than its receipt, and beats the ledger only when more than 5 minutes later."""
    basis = RULES.purposes.purposes[purpose].legal_basis
    if basis == "contract":
        return True
    event_at = datetime.fromisoformat(event["timestamp"])
    signal_at = min(event_at, received)
    location = event["context"].get("location", {})
    regime = RULES.jurisdictions.resolve(location.get("country"), location.get("region"))
    stated: tuple[datetime, bool] | None = None
    recorded = [e for e in ledger if purpose in e.purposes]
    if recorded:
        current = max(recorded, key=lambda e: (e.captured_at, e.order))
        if current.captured_at >= _oldest_valid(min(event_at, received + SKEW)):
            stated = (current.captured_at, current.purposes[purpose])
    in_event: list[bool] = []
    prefs = event["context"].get("consent", {}).get("categoryPreferences", {})
    mapped = [_answer(value) for category, value in prefs.items()
              if purpose in ORACLE_CATEGORIES.get(category.strip().casefold(), ())]
    if any(answer is not None for answer in mapped):
        in_event.append(all(answer for answer in mapped if answer is not None))
    if purpose == "advertising" and headers.get("Sec-GPC") == "1" and regime.honours_gpc:
        in_event.append(False)
    if in_event and (stated is None or signal_at > stated[0] + SKEW):
        return all(in_event)
    if stated is not None:
        return stated[1]
    return basis == "legitimate_interest" or regime.model == "opt_out"


_subjects = itertools.count()


def _time(spec: tuple[str, int], now: datetime) -> datetime:
    kind, amount = spec
    if kind == "base":
        return BASE + timedelta(days=amount)
    if kind == "recent":
        return now - timedelta(minutes=amount)
    if kind == "future":
        return now + timedelta(days=amount)
    return FAR[amount]


def _event(message_id: str, subject: str, spec: tuple[Any, ...],
           now: datetime) -> dict[str, Any]:
    (kind, name), when, prefs, _, (country, region), offset = spec
    context: dict[str, Any] = {"ip": "198.51.100.7"}
    if prefs is not None:
        context["consent"] = {"categoryPreferences": prefs}
    if country:
        context["location"] = {"country": country, **({"region": region} if region else {})}
    at = _time(when, now).astimezone(offset)
    message: dict[str, Any] = {"type": kind, "messageId": message_id, "userId": subject,
                               "timestamp": at.isoformat(), "context": context}
    if kind == "track":
        message["event"] = name
        message["properties"] = {"revenue": 10}
    elif name:
        message["name"] = name
    return message


Sent = dict[str, tuple[dict[str, Any], dict[str, str], datetime]]


def _check(outcome: Outcome, sent: Sent, ledger: list[LedgerEntry]) -> None:
    if outcome.status is not Status.FORWARDED:
        return
    assert outcome.message_id is not None
    event, headers, received = sent[outcome.message_id]
    assert outcome.purposes, "forwarded without any purpose"
    for purpose in outcome.purposes:
        assert _oracle_allows(purpose, event, headers, ledger, received), (
            f"forwarded for {purpose} without a valid basis")


def _run(pipeline: Pipeline, ops: list[tuple[str, Any]]) -> None:
    subject = f"subject-{next(_subjects)}"
    now = datetime.now(UTC)
    ledger: list[LedgerEntry] = []
    sent: Sent = {}
    for index, (kind, spec) in enumerate(ops):
        if kind == "update":
            when, purposes, offset = spec
            captured_at = _time(when, now).astimezone(offset)
            ledger.append(LedgerEntry(captured_at, purposes, index))
            result = pipeline.record_consent(ConsentUpdate(subject, captured_at,
                                                           "preference_center", purposes))
            for outcome in result.released:
                _check(outcome, sent, ledger)
        else:
            message_id = f"{subject}-{index}"
            event = _event(message_id, subject, spec, now)
            headers = {"Sec-GPC": "1"} if spec[3] else {}
            sent[message_id] = (event, headers, datetime.now(UTC))
            _check(pipeline.process(event, headers), sent, ledger)


@pytest.mark.slow
def test_nothing_is_forwarded_without_a_valid_basis(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(checkpoint_every=100_000, audit_fsync=False)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(operations)
    def check(ops: list[tuple[str, Any]]) -> None:
        _run(pipeline, ops)

    check()
