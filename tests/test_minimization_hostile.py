"""Minimization against hostile or careless client input: null ids, personal
data in map keys, and what of it reaches the append-only audit log."""

from __future__ import annotations

import json

from cdp_plugin.minimization.minimizer import Minimizer
from cdp_plugin.minimization.pii_guard import redact
from cdp_plugin.types import Status
from tests.conftest import MakePipeline, audit_lines, audit_records
from tests.events import ALL_GRANTED, track
from tests.test_minimization import hasher, load, minimize, rule, sealer

EMAIL = "jane@example.com"


def test_a_null_id_stays_absent_instead_of_one_shared_pseudonym(make_pipeline: MakePipeline
                                                                ) -> None:
    pipeline = make_pipeline()
    forwarded = []
    for number in (1, 2):
        event = track(f"m-{number}", user_id=f"user-{number}", consent=ALL_GRANTED)
        event["anonymousId"] = None  # what analytics-python and rudder-sdk-python send
        outcome = pipeline.process(event)
        assert outcome.status is Status.FORWARDED and outcome.event is not None
        forwarded.append(outcome.event)
        for delivery in outcome.deliveries.values():
            assert "anonymousId" not in delivery
    assert all("anonymousId" not in event for event in forwarded)
    assert forwarded[0]["userId"] != forwarded[1]["userId"]


def test_personal_data_in_a_kept_map_key_is_redacted() -> None:
    rules = load({**rule(analytics={"properties.title": "keep"}), "allowlist": False})
    minimizer = Minimizer(hasher, sealer, pii_guard=redact)
    payload = {"properties": {"title": {EMAIL: "v", "call +49 151 2345678": "w", "plain": "x",
                                        "a@example.org": "y"},
                              EMAIL: {"deep": 1}}}
    out, actions = minimize(rules, payload, {"analytics"}, minimizer=minimizer)
    assert EMAIL not in json.dumps(out) and "2345678" not in json.dumps(out)
    title = out["properties"]["title"]
    assert title["plain"] == "x" and sorted(title.values()) == ["v", "w", "x", "y"]
    assert "[REDACTED:email]" in title and "[REDACTED:email]~" in title  # no overwrite
    assert out["properties"]["[REDACTED:email]"] == {"deep": 1}
    assert all(EMAIL not in path for path in actions)
    assert actions["properties.title.[REDACTED:email]"] == "redact"


def test_a_dropped_key_holding_personal_data_is_audited_under_a_placeholder(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    event = track("m-1", consent=ALL_GRANTED)
    event["properties"][EMAIL] = "v"
    event["context"][f"x-{EMAIL}"] = {"nested": 1}
    outcome = pipeline.process(event)
    assert outcome.status is Status.FORWARDED
    [record] = audit_records(pipeline, "event.decision")
    paths = [path for paths in record["minimization"].values() for path in paths]
    assert "properties.[REDACTED:email]" in paths
    pipeline.close()
    assert EMAIL.encode() not in b"\n".join(audit_lines(pipeline))
    assert all(EMAIL not in path for path in outcome.minimization_rules)
