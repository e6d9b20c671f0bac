"""Consent against hostile clocks and banners that answer "reject all"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_plugin.types import ConsentUpdate, Status
from tests.conftest import MakePipeline, audit_records
from tests.events import ALL_DENIED, track

USER = "user-future@example.com"
EMAIL = "ada@example.com"


def _identify(timestamp: str, prefs: dict[str, bool], message_id: str = "m-1") -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id, "userId": USER,
            "timestamp": timestamp,
            "context": {"consent": {"categoryPreferences": prefs},
                        "location": {"country": "DE"}},
            "traits": {"email": EMAIL, "first_name": "Ada"}}


def test_a_future_dated_event_does_not_beat_a_withdrawal(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    now = datetime.now(UTC)
    pipeline.record_consent(ConsentUpdate(USER, now - timedelta(days=30), "preference_center",
                                          purposes={"marketing": True,
                                                    "personalization": True}))
    pipeline.record_consent(ConsentUpdate(USER, now, "preference_center",
                                          purposes={"marketing": False,
                                                    "personalization": False}))
    outcome = pipeline.process(_identify("2099-01-01T00:00:00Z",
                                         {"Marketing": True, "Personalization": True}))
    assert "marketing" not in outcome.purposes and "personalization" not in outcome.purposes
    assert "esp" not in outcome.deliveries
    assert EMAIL not in repr(outcome.event) + repr(dict(outcome.deliveries))
    [decision] = audit_records(pipeline, "event.decision")
    assert decision["consent"]["marketing"] == "denied"


def test_a_banner_answer_well_after_a_withdrawal_still_counts(
        make_pipeline: MakePipeline) -> None:
    """The skew protects withdrawals from clock games, not from later real answers."""
    pipeline = make_pipeline()
    now = datetime.now(UTC)
    pipeline.record_consent(ConsentUpdate(USER, now - timedelta(hours=2), "preference_center",
                                          purposes={"marketing": False}))
    later = (now - timedelta(minutes=30)).isoformat()
    outcome = pipeline.process(_identify(later, {"Marketing": True, "Personalization": True}))
    assert outcome.forwarded and "marketing" in outcome.purposes


def test_a_future_date_does_not_make_the_ledger_look_expired(make_pipeline: MakePipeline
                                                             ) -> None:
    pipeline = make_pipeline()
    pipeline.record_consent(ConsentUpdate(USER, datetime.now(UTC) - timedelta(days=1),
                                          "preference_center",
                                          purposes={"analytics": False, "marketing": False,
                                                    "personalization": False,
                                                    "advertising": False}))
    outcome = pipeline.process(track("m-1", USER, timestamp="2099-01-01T00:00:00Z"))
    assert outcome.status is Status.DROPPED and outcome.reasons == ("consent.denied",)


def test_reject_all_from_the_banner_is_dropped_not_held(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    rejected = track("m-1", consent={"Marketing": False})  # only what the banner asked
    outcome = pipeline.process(rejected)
    assert outcome.status is Status.DROPPED and outcome.reasons == ("consent.denied",)
    assert pipeline.process(track("m-2", consent=ALL_DENIED)).status is Status.DROPPED
    key = pipeline.runtime.pseudonymizer.subject("user-alice@example.com")
    assert pipeline.runtime.store.quarantine_count(key) == 0


def test_a_preference_center_denial_of_one_purpose_still_holds(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.record_consent(ConsentUpdate("user-alice@example.com", datetime.now(UTC),
                                          "preference_center", purposes={"advertising": False}))
    assert pipeline.process(track("m-1")).status is Status.QUARANTINED


def _tcf_event(message_id: str, **bits: Any) -> dict[str, Any]:
    from tests.signals.test_tcf import b64, core_bits

    event = track(message_id)
    event["context"]["consent"] = {"tcfString": b64(core_bits(**bits))}
    event["context"]["location"] = {"country": "DE"}
    return event


def test_tcf_legitimate_interest_does_not_grant_a_consent_purpose(
        make_pipeline: MakePipeline) -> None:
    """analytics has the legal basis consent in rules/purposes.yaml: TCF purposes 7-10
    under legitimate interest must not grant it; their consent bits do."""
    pipeline = make_pipeline()
    interest = pipeline.process(_tcf_event("m-li", purposes_li=(7, 8, 9, 10)))
    consented = pipeline.process(_tcf_event("m-consent", purposes_consent=(7, 8, 9, 10)))
    assert "analytics" not in interest.purposes
    assert "analytics" in consented.purposes and consented.forwarded
    by_key = {r["message_id"]: r["consent"] for r in audit_records(pipeline, "event.decision")}
    li_key, consent_key = (pipeline.runtime.pseudonymizer.message(m)
                           for m in ("m-li", "m-consent"))
    assert by_key[li_key].get("analytics") != "granted"
    assert by_key[consent_key]["analytics"] == "granted"


def test_an_event_dated_in_year_one_is_decided_not_a_plugin_error(
        make_pipeline: MakePipeline) -> None:
    """The ledger's expiry window reaches before the calendar's start: no overflow."""
    pipeline = make_pipeline()
    outcome = pipeline.process(track("m-1", timestamp="0001-01-01T00:00:00Z",
                                     consent={"Analytics": True}))
    assert outcome.forwarded and outcome.reasons == ("consent.granted",)
    assert not audit_records(pipeline, "plugin.error")
