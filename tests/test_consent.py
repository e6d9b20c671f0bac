"""Consent resolution: in-event signals, jurisdictions, expiry, linked identities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_plugin.types import ConsentUpdate, Status
from tests.conftest import MakePipeline, audit_records
from tests.events import track

USER = "user-carol@example.com"


def _located(event: dict[str, Any], country: str, region: str | None = None) -> dict[str, Any]:
    event["context"]["location"] = {"country": country, **({"region": region} if region else {})}
    return event


def _page(message_id: str, **context: Any) -> dict[str, Any]:
    return {"type": "page", "name": "Home", "messageId": message_id, "userId": USER,
            "timestamp": "2026-11-20T10:00:00Z", "properties": {"path": "/"},
            "context": context}


def test_rudderstack_and_strategy(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    both = {"allowedConsentIds": ["C0002", "C0003"], "deniedConsentIds": [],
            "resolutionStrategy": "and"}
    outcome = pipeline.process(_page("m-1", consentManagement=both))
    assert outcome.forwarded and outcome.purposes >= {"analytics", "personalization"}
    denied = {"allowedConsentIds": [], "deniedConsentIds": ["C0002", "C0003"]}
    assert pipeline.process(_page("m-2", consentManagement=denied)).reasons == (
        "consent.denied",)


def test_rudderstack_or_strategy_needs_one_allowed_category() -> None:
    from datetime import datetime as dt

    from cdp_plugin.consent.signals import rudderstack_statements
    from cdp_plugin.rules.loader import load_rules
    from cdp_plugin.types import Event
    from tests.conftest import RULES_DIR

    rules = load_rules(RULES_DIR).purposes
    payload = {"context": {"consentManagement": {
        "allowedConsentIds": ["SPD_BG"], "deniedConsentIds": ["C0005"],
        "resolutionStrategy": "or"}}}
    event = Event("page", "m", "u", "s", dt(2026, 1, 1, tzinfo=UTC), payload)
    [statement] = rudderstack_statements(event, rules)
    assert (statement.purpose, statement.granted) == ("advertising", True)
    payload["context"]["consentManagement"]["resolutionStrategy"] = "and"
    [statement] = rudderstack_statements(event, rules)
    assert (statement.purpose, statement.granted) == ("advertising", False)


def test_google_consent_mode(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    mode = {"analytics_storage": "granted", "personalization_storage": "denied",
            "ad_storage": "denied"}
    outcome = pipeline.process(_page("m-1", consentMode=mode))
    assert outcome.forwarded and outcome.purposes == frozenset({"necessary", "analytics"})
    [record] = audit_records(pipeline, "event.decision")
    assert record["consent"] == {"analytics": "granted", "necessary": "granted",
                                 "personalization": "denied"}


@pytest.mark.parametrize(("country", "region", "honoured"), [
    ("US", "US-CA", True), ("US", "US-VA", False), ("DE", None, True)])
def test_gpc_opts_out_of_advertising_where_honoured(
        make_pipeline: MakePipeline, country: str, region: str | None, honoured: bool) -> None:
    pipeline = make_pipeline()
    granted = {"Analytics": True, "Personalization": True, "Marketing": True,
               "Advertising": True}
    event = _located(track("m-1", USER, consent=granted), country, region)
    outcome = pipeline.process(event, headers={"Sec-GPC": "1"})
    assert outcome.forwarded
    assert ("advertising" in outcome.purposes) is not honoured
    # Only exactly "1" counts.
    other = _located(track("m-2", USER, consent=granted), country, region)
    assert "advertising" in pipeline.process(other, headers={"Sec-GPC": "true"}).purposes


def test_gpc_context_flag(make_pipeline: MakePipeline) -> None:
    event = _located(track("m-1", USER), "US", "US-CA")
    event["context"]["gpc"] = True
    outcome = make_pipeline().process(event)
    assert outcome.forwarded and "advertising" not in outcome.purposes
    assert "marketing" in outcome.purposes  # opt-out regime: allowed until refused


def test_opt_out_regime_allows_without_statement_opt_in_holds(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    us = pipeline.process(_located(track("m-1", USER), "US", "US-TX"))
    assert us.forwarded and {"marketing", "advertising"} <= us.purposes
    [record] = audit_records(pipeline, "event.decision")
    assert record["jurisdiction"] == "US-TX"
    eu = pipeline.process(_located(track("m-2", "user-dave"), "FR"))
    unknown = pipeline.process(track("m-3", "user-erin"))  # no location: strictest
    assert eu.status is unknown.status is Status.QUARANTINED


def test_expired_consent_counts_as_unknown(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    grant = ConsentUpdate(USER, datetime(2025, 9, 1, tzinfo=UTC), "preference_center",
                          purposes=dict.fromkeys(("analytics", "personalization", "marketing",
                                                  "advertising"), True))
    pipeline.record_consent(grant)
    fresh = track("m-1", USER, timestamp="2026-09-30T00:00:00Z")  # 394 days later
    assert pipeline.process(fresh).forwarded
    stale = track("m-2", USER, timestamp="2026-10-03T00:00:00Z")  # 397 days later
    assert pipeline.process(stale).status is Status.QUARANTINED


def test_superseded_notice_counts_as_unknown(make_pipeline: MakePipeline, tmp_path: Any) -> None:
    import shutil

    from tests.conftest import RULES_DIR

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    text = (rules / "purposes.yaml").read_text()
    (rules / "purposes.yaml").write_text(text.replace("superseded_notices: []",
                                                      'superseded_notices: ["2025-01"]'))
    pipeline = make_pipeline(rules_dir=rules)
    for version, user in (("2025-01", "old-notice"), ("2026-09", "new-notice")):
        pipeline.record_consent(ConsentUpdate(
            user, datetime(2026, 11, 1, tzinfo=UTC), "preference_center",
            purposes=dict.fromkeys(("analytics", "personalization", "marketing",
                                    "advertising"), True), notice_version=version))
    assert pipeline.process(track("m-1", "old-notice")).status is Status.QUARANTINED
    assert pipeline.process(track("m-2", "new-notice")).forwarded


def test_identify_merges_anonymous_consent_most_restrictively(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    at = datetime(2026, 11, 1, tzinfo=UTC)
    pipeline.record_consent(ConsentUpdate("anon-1", at, "preference_center",
                                          purposes={"personalization": False}))
    pipeline.record_consent(ConsentUpdate(USER, datetime(2026, 11, 2, tzinfo=UTC),
                                          "preference_center",
                                          purposes={"personalization": True,
                                                    "marketing": True}))
    identify = {"type": "identify", "messageId": "m-1", "userId": USER,
                "anonymousId": "anon-1", "timestamp": "2026-11-20T10:00:00Z",
                "traits": {"plan": "gold"}}
    outcome = pipeline.process(identify)
    assert outcome.forwarded
    assert "personalization" not in outcome.purposes and "marketing" in outcome.purposes


def test_reconsent_due_is_found_audited_and_announced_once(make_pipeline: MakePipeline,
                                                           tmp_path: Any) -> None:
    import shutil

    from cdp_plugin import hookimpl
    from cdp_plugin.types import ReconsentDue
    from tests.conftest import RULES_DIR

    announced: list[ReconsentDue] = []

    class Crm:
        @hookimpl
        def cdp_reconsent_due(self, due: ReconsentDue) -> None:
            announced.append(due)

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    text = (rules / "purposes.yaml").read_text()
    (rules / "purposes.yaml").write_text(text.replace("superseded_notices: []",
                                                      'superseded_notices: ["2025-01"]'))
    pipeline = make_pipeline(Crm(), rules_dir=rules)
    pipeline.record_consent(ConsentUpdate("old", datetime(2025, 1, 1, tzinfo=UTC), "import",
                                          purposes={"marketing": True},
                                          channels={"email": True}))
    pipeline.record_consent(ConsentUpdate("superseded", datetime(2026, 11, 1, tzinfo=UTC),
                                          "import", purposes={"analytics": True},
                                          notice_version="2025-01"))
    pipeline.record_consent(ConsentUpdate("fresh", datetime(2026, 11, 1, tzinfo=UTC), "import",
                                          purposes={"analytics": True}, notice_version="2026-09"))
    now = datetime(2026, 11, 28, tzinfo=UTC)
    due = pipeline.reconsent_due(now)
    keys = {pipeline.runtime.pseudonymizer.subject(s): s for s in ("old", "superseded")}
    assert {keys[d.subject_key]: (d.reasons, d.items) for d in due} == {
        "old": (("expired",), ("channel:email", "purpose:marketing")),
        "superseded": (("superseded_notice",), ("purpose:analytics",)),
    }
    assert announced == due
    assert pipeline.reconsent_due(now) == due  # still due, but announced only once
    assert len(announced) == 2
    assert len(audit_records(pipeline, "consent.reconsent_due")) == 2


TC_STRING = "CPTtLAAPTtLAAAAAAAENAAFgALwAAEAAAAAAAOgAgABgAAAA.IAoAAgABgAAEAQAAEAAA.d4AACEAAAAAA"


def _with_consent(**consent: Any) -> dict[str, Any]:
    event = track("m-1", USER)
    event["context"]["consent"] = consent
    return event


def test_tcf_string_is_a_signal_captured_when_the_user_chose() -> None:
    from cdp_plugin.consent.signals import tcf_statements
    from cdp_plugin.events import parse_event
    from cdp_plugin.rules.loader import load_rules
    from cdp_plugin.signals.tcf import decode_tcf, effective_purposes
    from tests.conftest import RULES_DIR

    rules = load_rules(RULES_DIR).purposes
    event = parse_event(_with_consent(tcfString=TC_STRING), lambda s: "s_x")
    statements = {s.purpose: s for s in tcf_statements(event, rules)}
    effective = effective_purposes(decode_tcf(TC_STRING))
    assert set(statements) == {"necessary", "advertising", "personalization", "analytics"}
    assert all(s.source == "tcf" for s in statements.values())
    assert all(s.captured_at == datetime(2022, 2, 1, tzinfo=UTC) for s in statements.values())
    assert statements["advertising"].granted == (effective[3] and effective[4])
    assert statements["analytics"].granted == all(effective[p] for p in (7, 8, 9, 10))
    broken = parse_event(_with_consent(tcfString=TC_STRING[:12]), lambda s: "s_x")
    assert tcf_statements(broken, rules) == []


@pytest.mark.parametrize(("gpp", "granted"), [
    ("DBABLA~CVVVkkkkkpFY.YA", False),    # usnat v2: opted out of sale, sharing, targeting
    ("DBABLA~CqqqqqqqqqqA.QA", True),     # usnat v2: did not opt out of any
])
def test_gpp_usnat_opt_outs_decide_advertising(gpp: str, granted: bool) -> None:
    from cdp_plugin.consent.signals import gpp_statements
    from cdp_plugin.events import parse_event
    from cdp_plugin.rules.loader import load_rules
    from cdp_plugin.signals.gpp import decode_gpp
    from tests.conftest import RULES_DIR

    usnat = decode_gpp(gpp).sections[0].decoded
    rules = load_rules(RULES_DIR).purposes
    event = parse_event(_with_consent(gppString=gpp), lambda s: "s_x")
    [statement] = gpp_statements(event, rules)
    assert (statement.purpose, statement.source) == ("advertising", "gpp")
    assert statement.granted is granted, usnat


def test_malformed_consent_strings_are_no_signal(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    outcome = pipeline.process(_with_consent(tcfString="C" + "!" * 20, gppString="DB~~"))
    assert outcome.status is Status.QUARANTINED  # no signal: consent still unknown


def test_recorded_residency_decides_the_regime_when_events_have_no_location(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.record_consent(ConsentUpdate(USER, datetime(2026, 11, 1, tzinfo=UTC),
                                          "preference_center", channels={"email": True},
                                          residency="us-ca"))
    outcome = pipeline.process(track("m-1", USER))  # no location, no consent object
    assert outcome.forwarded and "advertising" in outcome.purposes
    located = _located(track("m-2", USER), "DE")  # the event's own location wins
    assert pipeline.process(located).status is Status.QUARANTINED
    decisions = audit_records(pipeline, "event.decision")
    assert [r["jurisdiction"] for r in decisions] == ["US-CA", "EU"]


def test_outcome_names_the_destinations_its_purposes_allow(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    consent = {"Analytics": True, "Marketing": True, "Personalization": False,
               "Advertising": False}
    outcome = pipeline.process(track("m-1", USER, consent=consent))
    assert outcome.destinations == frozenset(
        {"warehouse", "esp", "sms_gateway", "push_service", "support_desk"})
    [record] = audit_records(pipeline, "event.decision")
    assert record["destinations"] == sorted(outcome.destinations)
