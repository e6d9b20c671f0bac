"""Property: no event is ever forwarded for a purpose without a valid basis.

Random consent histories (applied in random order), jurisdictions, in-event
signals and events go through a real pipeline; every forwarded outcome,
including events released from quarantine later, is checked against an
oracle written from the rules' text, not from the implementation.

Examples per run: ``CDP_PLUGIN_PROPERTY_EXAMPLES`` (default 10,000). The
README documents the one-million-example run.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
CATEGORIES = ("Analytics", "Personalization", "Marketing", "Advertising", "Targeting", "C0002")
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


updates = st.builds(
    lambda day, purposes: (BASE + timedelta(days=day), purposes),
    st.integers(min_value=-500, max_value=60),
    st.dictionaries(st.sampled_from(CONSENT_PURPOSES), st.booleans(), min_size=1),
)
events = st.builds(
    lambda kind, day, prefs, gpc, location: (kind, BASE + timedelta(days=day), prefs, gpc,
                                             location),
    st.sampled_from(EVENTS),
    st.integers(min_value=0, max_value=60),
    st.none() | st.dictionaries(st.sampled_from(CATEGORIES), st.booleans()),
    st.booleans(),
    st.sampled_from(LOCATIONS),
)
operations = st.lists(st.one_of(updates.map(lambda u: ("update", u)),
                                events.map(lambda e: ("event", e))), min_size=1, max_size=7)


def _oracle_allows(purpose: str, event: dict[str, Any], headers: dict[str, str],
                   ledger: list[LedgerEntry]) -> bool:
    """Whether ``purpose`` has a valid basis for ``event``, read off the rules."""
    basis = RULES.purposes.purposes[purpose].legal_basis
    if basis == "contract":
        return True
    at = datetime.fromisoformat(event["timestamp"])
    location = event["context"].get("location", {})
    regime = RULES.jurisdictions.resolve(location.get("country"), location.get("region"))
    # (time, explicit beats in-event, denial beats grant) -> granted?
    statements: list[tuple[datetime, int, bool, bool]] = []
    recorded = [e for e in ledger if purpose in e.purposes]
    if recorded:
        current = max(recorded, key=lambda e: (e.captured_at, e.order))
        if current.captured_at >= at - MAX_AGE:
            granted = current.purposes[purpose]
            statements.append((current.captured_at, 1, not granted, granted))
    prefs = event["context"].get("consent", {}).get("categoryPreferences", {})
    mapped = [value for category, value in prefs.items()
              if purpose in RULES.purposes.segment_categories.get(category, ())]
    if mapped:
        statements.append((at, 0, not all(mapped), all(mapped)))
    if purpose == "advertising" and headers.get("Sec-GPC") == "1" and regime.honours_gpc:
        statements.append((at, 0, True, False))
    if statements:
        return max(statements)[3]
    return basis == "legitimate_interest" or regime.model == "opt_out"


_subjects = itertools.count()


def _event(message_id: str, subject: str, spec: tuple[Any, ...]) -> dict[str, Any]:
    (kind, name), at, prefs, _, (country, region) = spec
    context: dict[str, Any] = {"ip": "198.51.100.7"}
    if prefs is not None:
        context["consent"] = {"categoryPreferences": prefs}
    if country:
        context["location"] = {"country": country, **({"region": region} if region else {})}
    message: dict[str, Any] = {"type": kind, "messageId": message_id, "userId": subject,
                               "timestamp": at.isoformat(), "context": context}
    if kind == "track":
        message["event"] = name
        message["properties"] = {"revenue": 10}
    elif name:
        message["name"] = name
    return message


def _check(outcome: Outcome, sent: dict[str, tuple[dict[str, Any], dict[str, str]]],
           ledger: list[LedgerEntry]) -> None:
    if outcome.status is not Status.FORWARDED:
        return
    assert outcome.message_id is not None
    event, headers = sent[outcome.message_id]
    assert outcome.purposes, "forwarded without any purpose"
    for purpose in outcome.purposes:
        assert _oracle_allows(purpose, event, headers, ledger), (
            f"forwarded for {purpose} without a valid basis")


def _run(pipeline: Pipeline, ops: list[tuple[str, Any]]) -> None:
    subject = f"subject-{next(_subjects)}"
    ledger: list[LedgerEntry] = []
    sent: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    for index, (kind, spec) in enumerate(ops):
        if kind == "update":
            captured_at, purposes = spec
            ledger.append(LedgerEntry(captured_at, purposes, index))
            result = pipeline.record_consent(ConsentUpdate(subject, captured_at,
                                                           "preference_center", purposes))
            for outcome in result.released:
                _check(outcome, sent, ledger)
        else:
            message_id = f"{subject}-{index}"
            event = _event(message_id, subject, spec)
            headers = {"Sec-GPC": "1"} if spec[3] else {}
            sent[message_id] = (event, headers)
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
