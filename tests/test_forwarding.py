"""What the host adds to forwarded payloads: routing flags and the resolved consent."""

from __future__ import annotations

from cdp_plugin.forwarding import MAX_INTEGRATIONS, annotated, routing_flags
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import ConsentState, ConsentView
from tests.conftest import MakePipeline
from tests.events import ALL_GRANTED, track


def test_only_plain_boolean_routing_flags_pass() -> None:
    raw = {"All": False, "Mixpanel": True, "Google Analytics 4": True,
           "Amplitude": {"session_id": 1717}, "Braze": "yes", "ada@example.com": True,
           "x" * 65: True, "": True, "Iterable\n": True, 7: True}
    assert routing_flags(raw) == {"All": False, "Mixpanel": True, "Google Analytics 4": True}
    assert routing_flags(["All"]) == {} and routing_flags(None) == {}
    many = {f"Tool{n}": True for n in range(MAX_INTEGRATIONS + 5)}
    assert len(routing_flags(many)) == MAX_INTEGRATIONS


def test_the_resolved_consent_replaces_what_the_payload_held() -> None:
    view = ConsentView("s_1", {"marketing": ConsentState.DENIED,
                               "analytics": ConsentState.GRANTED,
                               "advertising": ConsentState.UNKNOWN})
    payload = {"type": "track", "context": {"locale": "de-DE", "consent": {"raw": "CP..."}},
               "integrations": {"Old": True}}
    out = annotated(payload, {"integrations": {"All": True}}, view)
    assert out["context"] == {"locale": "de-DE", "consent": {"categoryPreferences": {
        "analytics": True, "marketing": False}}}
    assert out["integrations"] == {"All": True}
    assert "integrations" not in annotated(payload, {}, view)
    assert payload["context"]["consent"] == {"raw": "CP..."}  # the input is left alone


def test_forwarded_events_carry_flags_and_consent_but_no_cmp_signal(
        make_pipeline: MakePipeline) -> None:
    pipeline: Pipeline = make_pipeline()
    event = track("m-1", consent=ALL_GRANTED)
    event["integrations"] = {"All": True, "Amplitude": {"user_email": "ada@example.com"}}
    outcome = pipeline.process(event)
    assert outcome.event is not None
    assert outcome.event["integrations"] == {"All": True}
    preferences = outcome.event["context"]["consent"]["categoryPreferences"]
    assert preferences["marketing"] is True and "Marketing" not in preferences
    assert "ada@example.com" not in str(outcome.event)
