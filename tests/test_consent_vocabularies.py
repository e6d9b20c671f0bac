"""Consent vocabularies as real consent managers send them.

Each CMP's ids below are the ones its own banner puts in the Segment or
RudderStack consent object; the rules enable its preset by name.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.cli import main
from cdp_plugin.errors import RulesError
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.rules.presets import PRESETS
from cdp_plugin.types import Status
from tests.conftest import RULES_DIR, MakePipeline, audit_records
from tests.events import track

USER = "user-vocab@example.com"
EMAIL = "grace@example.com"


def _identify(consent: dict[str, Any], message_id: str = "m-1") -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id, "userId": USER,
            "timestamp": "2026-11-20T10:00:00Z",
            "context": {"location": {"country": "DE"}, **consent},
            "traits": {"email": EMAIL, "first_name": "Grace"}}


def _prefs(prefs: dict[str, Any]) -> dict[str, Any]:
    return {"consent": {"categoryPreferences": prefs}}


def _rules_with(tmp_path: Path, presets: list[str], extra: str = "") -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    purposes = target / "purposes.yaml"
    text = purposes.read_text()
    text = re.sub(r"^  presets: \[.*\]$", f"  presets: [{', '.join(presets)}]", text,
                  flags=re.MULTILINE)
    text = text.replace("  segment_categories:\n", "  segment_categories:\n" + extra, 1)
    purposes.write_text(text)
    return target


def test_purpose_names_are_understood_in_any_case(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    outcome = pipeline.process(_identify(_prefs({"marketing": True, "PERSONALIZATION": True})))
    assert outcome.status is Status.FORWARDED
    assert {"marketing", "personalization"} <= outcome.purposes
    assert outcome.deliveries["esp"]["traits"]["email"] == EMAIL


def test_the_onetrust_preset_reaches_marketing(make_pipeline: MakePipeline) -> None:
    """OneTrust's Targeting group (C0004) speaks for marketing: an ESP gets the address."""
    pipeline = make_pipeline()
    granted = pipeline.process(_identify(_prefs({"C0001": True, "C0003": True, "C0004": True})))
    assert granted.forwarded and granted.deliveries["esp"]["traits"]["email"] == EMAIL
    denied = pipeline.process(_identify(_prefs({"C0003": True, "C0004": False}), "m-2"))
    assert "marketing" not in denied.purposes and "esp" not in denied.deliveries


@pytest.mark.parametrize(("preset", "consent", "granted", "denied"), [
    ("osano", _prefs({"ESSENTIAL": "ACCEPT", "ANALYTICS": "ACCEPT", "MARKETING": "DENY",
                      "PERSONALIZATION": "ACCEPT"}),
     {"personalization"}, {"marketing"}),
    ("ketch", {"consentManagement": {"allowedConsentIds": ["essential_services",
                                                           "personalization"],
                                     "deniedConsentIds": ["email_marketing"]}},
     {"personalization"}, {"marketing"}),
    ("trustarc", _prefs({"ta-1": True, "ta-2": True, "ta-3": False}),
     {"personalization"}, {"marketing"}),
    ("didomi", _prefs({"cookies": True, "create_content_profile": True,
                       "select_personalized_content": True}),
     {"personalization"}, set()),
])
def test_each_preset_reads_its_banner(make_pipeline: MakePipeline, tmp_path: Path,
                                      preset: str, consent: dict[str, Any],
                                      granted: set[str], denied: set[str]) -> None:
    pipeline = make_pipeline(rules_dir=_rules_with(tmp_path, [preset]))
    outcome = pipeline.process(_identify(consent))
    assert outcome.forwarded
    assert granted <= outcome.purposes and not denied & outcome.purposes
    assert not [r for r in outcome.reasons if r.startswith("consent.unmapped:")]
    [decision] = audit_records(pipeline, "event.decision")
    for purpose in denied:
        assert decision["consent"][purpose] == "denied"


def test_without_its_preset_a_cmp_vocabulary_is_reported_as_unmapped(
        make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()  # the shipped rules enable only onetrust
    outcome = pipeline.process(_identify(_prefs({"ESSENTIAL": "ACCEPT", "email_mktg": True})))
    assert outcome.status is Status.QUARANTINED
    assert outcome.reasons == ("consent.unknown", "consent.unmapped:ESSENTIAL",
                               "consent.unmapped:email_mktg")
    [decision] = audit_records(pipeline, "event.decision")
    assert "consent.unmapped:email_mktg" in decision["reasons"]


def test_hostile_category_names_are_not_reported_verbatim(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    prefs = {"jane.doe@example.com": True, "x" * 500: True, "Marketing": True,
             **{f"cat{n}": True for n in range(20)}}
    outcome = pipeline.process(_identify(_prefs(prefs)))
    unmapped = [r for r in outcome.reasons if r.startswith("consent.unmapped:")]
    assert unmapped == ["consent.unmapped:<unreadable>", "consent.unmapped:cat0",
                        "consent.unmapped:cat1"]
    log = "\n".join(json.dumps(r) for r in audit_records(pipeline))
    assert "jane.doe" not in log and "x" * 100 not in log


def test_the_run_summary_names_unmapped_categories(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    lines = [track("m-1", consent={"OPT_OUT": True}), track("m-2", consent={"OPT_OUT": False}),
             track("m-3", consent={"Analytics": True})]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    options = ["--rules", str(RULES_DIR), "--data-dir", str(tmp_path / "data"),
               "--audit-dir", str(tmp_path / "audits")]
    assert main(["run", str(events), "--out", str(tmp_path / "out.jsonl"), "--json",
                 *options]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["unmapped_consent_categories"] == {"OPT_OUT": 2}
    assert summary["reasons"]["quarantined"] == {"consent.unknown": 2}
    options[3], options[5] = str(tmp_path / "data-again"), str(tmp_path / "audits-again")
    assert main(["run", str(events), "--out", str(tmp_path / "again.jsonl"), *options]) == 0
    text = capsys.readouterr().out
    assert "do not map" in text and "OPT_OUT" in text


def test_two_spellings_of_one_category_must_agree(tmp_path: Path) -> None:
    rules = _rules_with(tmp_path, ["onetrust"], "    marketing: [advertising]\n")
    with pytest.raises(RulesError) as caught:
        load_rules(rules)
    [problem] = caught.value.problems
    assert problem.key == "signals.segment_categories.Marketing"
    assert "case-insensitively" in problem.message


def test_an_unknown_preset_fails_at_load_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(_rules_with(tmp_path, ["onetrust", "cookiebot"]))
    [problem] = caught.value.problems
    assert problem.key == "signals.presets.1" and "cookiebot" in problem.message


def test_explicit_entries_override_a_preset(tmp_path: Path) -> None:
    rules = load_rules(_rules_with(tmp_path, ["onetrust"], "    C0004: [advertising]\n"))
    assert rules.purposes.category_purposes("c0004") == {"advertising"}
    assert load_rules(RULES_DIR).purposes.category_purposes(" c0004 ") == {"advertising",
                                                                           "marketing"}


def test_presets_name_only_defined_purposes() -> None:
    defined = set(load_rules(RULES_DIR).purposes.purposes)
    for name, preset in PRESETS.items():
        for category, purposes in preset.items():
            assert set(purposes) <= defined, (name, category)
