"""Minimization: generalize and encrypt actions, the permissiveness order, destinations,
the PII guard hook-in, and the promise that no path outside the policy survives."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from itertools import combinations_with_replacement
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from cdp_plugin.errors import RuleProblem, RulesError
from cdp_plugin.keys.keyring import Keyring
from cdp_plugin.minimization.generalize import (
    age_band,
    bucket,
    coarsen_location,
    truncate_timestamp,
)
from cdp_plugin.minimization.minimizer import Minimizer
from cdp_plugin.minimization.plan import compile_plan, rules_for
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.rules.model import PERMISSIVENESS, MinimizationRules
from cdp_plugin.rules.schemas import MinimizationFileSchema
from cdp_plugin.types import FieldAction, Status
from tests.conftest import RULES_DIR, MakePipeline, audit_records

PURPOSES = ("necessary", "analytics", "personalization", "marketing", "advertising")
DESTINATIONS = ("warehouse", "esp", "sms_gateway", "push_service", "ads",
                "personalization_engine", "support_desk")
BANDS = (18, 25, 35, 45, 55, 65)


def load(*rules: dict[str, Any]) -> MinimizationRules:
    loaded: MinimizationRules = MinimizationFileSchema(PURPOSES, DESTINATIONS).load(
        {"version": 1, "rules": list(rules)})
    return loaded


def rule(name: str = "r", match: dict[str, Any] | None = None,
         **purposes: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "match": match or {}, "purposes": purposes}


def hasher(value: str) -> str:
    return "h:" + value


def sealer(path: str, value: Any) -> str:
    return f"enc1:test:{path}"


def minimize(rules: MinimizationRules, payload: dict[str, Any], granted: set[str],
             destination: str | None = None,
             minimizer: Minimizer | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The minimized payload and ``{path: action}`` for a message matched by every rule."""
    plan = compile_plan(rules_for(rules.rules, destination), frozenset(granted))
    out, steps = (minimizer or Minimizer(hasher, sealer)).apply(plan, payload)
    return out, {step.path: step.action for step in steps}


# -- rules: new actions and their parameters are validated at load -----------------------------


def test_parameters_are_resolved_with_defaults() -> None:
    loaded = load(rule(analytics={
        "a": {"action": "generalize", "to": "hour"},
        "b": {"action": "generalize", "to": "age_band"},
        "c": {"action": "generalize", "to": "age_band", "bands": [16, 30]},
        "d": {"action": "generalize", "to": "bucket", "size": 100},
        "e": {"action": "generalize", "to": "region"},
        "f": "encrypt",
    }))
    params = {f.path: (f.action, dict(f.params)) for f in loaded.rules[0].purposes["analytics"]}
    assert params == {
        "a": ("generalize", {"to": "hour"}),
        "b": ("generalize", {"to": "age_band", "bands": BANDS}),
        "c": ("generalize", {"to": "age_band", "bands": (16, 30)}),
        "d": ("generalize", {"to": "bucket", "size": 100}),
        "e": ("generalize", {"to": "region"}),
        "f": ("encrypt", {}),
    }
    assert loaded.rules[0].destinations == frozenset()


@pytest.mark.parametrize(("action", "key", "message"), [
    ({"action": "generalize"}, "to", "required key is missing"),
    ({"action": "generalize", "to": "week"}, "to",
     "must be one of hour, day, month, country, region, age_band, bucket"),
    ({"action": "generalize", "to": 3}, "to", "must be one of hour"),
    ({"action": "generalize", "to": "bucket"}, "size", "required with to: bucket"),
    ({"action": "generalize", "to": "bucket", "size": 0}, "size",
     "must be an integer from 1 to 1000000000000"),
    ({"action": "generalize", "to": "bucket", "size": 2.5}, "size", "must be an integer"),
    ({"action": "generalize", "to": "hour", "size": 10}, "size",
     "applies only with to: bucket"),
    ({"action": "generalize", "to": "day", "bands": [18]}, "bands",
     "applies only with to: age_band"),
    ({"action": "generalize", "to": "age_band", "bands": [30, 18]}, "bands",
     "must be a non-empty list of ascending integers from 0 to 150"),
    ({"action": "generalize", "to": "age_band", "bands": []}, "bands", "non-empty list"),
    ({"action": "generalize", "to": "age_band", "bands": "18,25"}, "bands", "non-empty list"),
    ({"action": "generalize", "to": "age_band", "bands": [18, 200]}, "bands", "0 to 150"),
    ({"action": "generalize", "to": "hour", "precision": 2}, "precision",
     "unknown parameter; 'generalize' takes to, bands, size"),
    ({"action": "encrypt", "key": "k1"}, "key", "'encrypt' takes no parameters"),
])
def test_bad_parameters_are_reported_under_their_key(action: dict[str, Any], key: str,
                                                     message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load(rule(analytics={"traits.age": action}))
    messages: Any = caught.value.messages
    errors = messages["rules"][0]["purposes"]["analytics"]["traits.age"]
    assert any(message in text for text in errors[key])


def test_destinations_must_be_defined_listed_once_and_not_empty() -> None:
    with pytest.raises(ValidationError) as caught:
        load({**rule("a", marketing={"x": "keep"}), "destinations": ["esp", "fax", "esp"]},
             {**rule("b", marketing={"x": "keep"}), "destinations": []},
             {**rule("c", marketing={"x": "keep"}), "destinations": "esp"})
    messages: Any = caught.value.messages
    errors = messages["rules"]
    assert errors[0]["destinations"][1] == {"_schema": [
        "undefined destination 'fax'; purposes.yaml defines: ads, esp, personalization_engine, "
        "push_service, sms_gateway, support_desk, warehouse"]}
    assert "duplicate destination 'esp'" in errors[0]["destinations"][2]["_schema"][0]
    assert errors[1]["destinations"] == [
        "must list at least one destination; leave it out to shape every payload"]
    assert errors[2]["destinations"] == ["must be a list"]


def _rules_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    shutil.copytree(RULES_DIR, directory)
    return directory


def _problems(directory: Path) -> list[RuleProblem]:
    with pytest.raises(RulesError) as caught:
        load_rules(directory)
    return caught.value.problems


def test_a_bad_generalize_in_the_file_names_file_key_and_line(tmp_path: Path) -> None:
    directory = _rules_copy(tmp_path)
    path = directory / "minimization.yaml"
    text = path.read_text().replace(
        "traits.age: {action: generalize, to: age_band}",
        "traits.age: {action: generalize, to: age_band, size: 5}")
    path.write_text(text)
    [problem] = _problems(directory)
    index = [r.name for r in load_rules(RULES_DIR).minimization.rules].index("identify_traits")
    assert problem.file.endswith("minimization.yaml")
    assert problem.key == f"rules.{index}.purposes.personalization.traits.age.size"
    assert problem.message == "applies only with to: bucket"
    lines = text.splitlines()
    assert problem.line == 1 + next(i for i, line in enumerate(lines) if "size: 5" in line)


def test_a_bad_destinations_entry_in_the_file_names_file_key_and_line(tmp_path: Path) -> None:
    directory = _rules_copy(tmp_path)
    path = directory / "minimization.yaml"
    text = path.read_text().replace("destinations: [esp]", "destinations: esp")
    path.write_text(text)
    [problem] = _problems(directory)
    assert problem.key.endswith(".destinations") and problem.message == "must be a list"
    assert problem.line == 1 + text.splitlines().index("    destinations: esp")


def test_the_shipped_rules_use_the_new_actions_and_destinations() -> None:
    shipped = load_rules(RULES_DIR).minimization
    names = {r.name: r for r in shipped.rules}
    assert names["email_contact"].destinations == frozenset({"esp"})
    assert names["sms_contact"].destinations == frozenset({"sms_gateway"})
    age = next(f for f in names["identify_traits"].purposes["personalization"]
               if f.path == "traits.age")
    assert (age.action, dict(age.params)) == ("generalize", {"to": "age_band", "bands": BANDS})


# -- generalize: each target ------------------------------------------------------------------


@pytest.mark.parametrize(("value", "unit", "expected"), [
    ("2026-11-20T10:47:12Z", "hour", "2026-11-20T10:00:00Z"),
    ("2026-11-20T10:47:12.513Z", "day", "2026-11-20T00:00:00Z"),
    ("2026-11-20T10:47:12+00:00", "month", "2026-11-01T00:00:00Z"),
    ("2026-11-20T00:30:00+01:00", "hour", "2026-11-19T23:00:00Z"),  # offset normalised to UTC
    ("2026-11-20T00:30:00+01:00", "day", "2026-11-19T00:00:00Z"),
    ("2026-12-01T00:30:00+02:00", "month", "2026-11-01T00:00:00Z"),
    ("2026-11-20T10:47:12", "hour", None),  # no offset: the UTC hour is unknown
    ("2026-11-20", "day", None),
    ("yesterday", "day", None),
    (1763635632, "hour", None),
    (None, "hour", None),
    ("2026-11-20T10:47:12Z" + " " * 100, "hour", None),
])
def test_timestamps_truncate_to_utc(value: Any, unit: str, expected: str | None) -> None:
    assert truncate_timestamp(value, unit) == expected


@pytest.mark.parametrize(("value", "level", "expected"), [
    ({"country": "DE", "region": "BY", "city": "Munich", "latitude": 48.1}, "country",
     {"country": "DE"}),
    ({"country": "DE", "region": "BY", "city": "Munich"}, "region",
     {"country": "DE", "region": "BY"}),
    ({"country": "United States", "city": "Austin"}, "region", {"country": "United States"}),
    ({"city": "Munich"}, "country", None),
    ({"country": ""}, "country", None),
    ("us-ca", "country", "US"),
    ("US-CA", "region", "US-CA"),
    ("de", "region", "DE"),
    ("Munich, Germany", "country", None),
    (49, "country", None),
])
def test_locations_keep_country_or_region(value: Any, level: str, expected: Any) -> None:
    assert coarsen_location(value, level) == expected


@pytest.mark.parametrize(("value", "bands", "expected"), [
    (17, BANDS, "<18"), (18, BANDS, "18-24"), (24.9, BANDS, "18-24"), (25, BANDS, "25-34"),
    (64, BANDS, "55-64"), (65, BANDS, "65+"), (99, BANDS, "65+"), ("36", BANDS, "35-44"),
    (0, (0, 18), "0-17"), (40, (18,), "18+"), (10, (18,), "<18"),
    (-1, BANDS, None), (151, BANDS, None), (True, BANDS, None), ("thirty", BANDS, None),
    ("36.5", BANDS, None), (float("nan"), BANDS, None), (None, BANDS, None),
])
def test_ages_fall_into_bands(value: Any, bands: tuple[int, ...], expected: str | None) -> None:
    assert age_band(value, bands) == expected


@pytest.mark.parametrize(("value", "size", "expected"), [
    (100, 100, "100-199"), (150, 100, "100-199"), (199.99, 100, "100-199"), (0, 100, "0-99"),
    (99, 100, "0-99"), (-5, 100, "-100--1"), ("42.50", 10, "40-49"), (7, 1, "7-7"),
    (12345678901234567890, 1000, "12345678901234567000-12345678901234567999"),
    (False, 10, None), (float("inf"), 10, None), ("42 EUR", 10, None), ([1], 10, None),
])
def test_numbers_fall_into_buckets(value: Any, size: int, expected: str | None) -> None:
    assert bucket(value, size) == expected


def test_generalize_applies_in_a_plan_and_fails_closed_with_a_drop() -> None:
    rules = load(rule("coarse", analytics={
        "at": {"action": "generalize", "to": "hour"},
        "where": {"action": "generalize", "to": "country"},
        "age": {"action": "generalize", "to": "age_band"},
        "price": {"action": "generalize", "to": "bucket", "size": 50},
    }))
    out, steps = minimize(rules, {"at": "2026-11-20T10:47:12Z", "where": {"country": "DE",
                                  "city": "Bonn"}, "age": 31, "price": 120.5}, {"analytics"})
    assert out == {"at": "2026-11-20T10:00:00Z", "where": {"country": "DE"}, "age": "25-34",
                   "price": "100-149"}
    assert set(steps.values()) == {"generalize"}
    out, steps = minimize(rules, {"at": "soon", "where": "Bonn", "age": "old", "price": "n/a"},
                          {"analytics"})
    assert out == {} and steps == dict.fromkeys(("at", "where", "age", "price"), "drop")
    _, plan_steps = Minimizer(hasher).apply(
        compile_plan(rules.rules, frozenset({"analytics"})), {"age": "old"})
    assert plan_steps == (FieldAction("age", "drop", "coarse"),)


@pytest.mark.parametrize(("level", "expected"), [
    ("country", {"country": "DE"}), ("region", {"country": "DE", "region": "BY"})])
def test_a_location_stays_generalized_when_another_rule_names_a_part_of_it(
        level: str, expected: dict[str, str]) -> None:
    rules = load(rule("coarse", analytics={"loc": {"action": "generalize", "to": level}}),
                 rule("fine", personalization={"loc.lat": "hash"}))
    payload = {"loc": {"country": "DE", "region": "BY", "city": "Munich", "lat": 48.1}}
    out, steps = minimize(rules, payload, {"analytics", "personalization"})
    assert out == {"loc": expected}
    assert steps["loc.city"] == steps["loc.lat"] == "drop"
    assert minimize(rules, payload, {"analytics"})[0] == {"loc": expected}


def test_encrypt_uses_the_encrypter_with_the_summary_path_and_drops_without_one() -> None:
    rules = load(rule("sealed", necessary={"traits.email": "encrypt", "items.*.note": "encrypt"}))
    payload = {"traits": {"email": "a@example.com"}, "items": [{"note": "x"}, {"note": "y"}]}
    out, steps = minimize(rules, payload, {"necessary"})
    assert out == {"traits": {"email": "enc1:test:traits.email"},
                   "items": [{"note": "enc1:test:items.*.note"}] * 2}
    assert steps == {"traits.email": "encrypt", "items.*.note": "encrypt"}
    out, steps = minimize(rules, payload, {"necessary"}, minimizer=Minimizer(hasher))
    assert out == {} and set(steps.values()) == {"drop"}


# -- combining purposes: keep > encrypt > generalize > truncate > hash > drop ------------------

_SPELLED = {"keep": "keep", "drop": "drop", "hash": "hash", "encrypt": "encrypt",
            "truncate": {"action": "truncate"},
            "generalize": {"action": "generalize", "to": "bucket", "size": 10}}
_RESULT = {"keep": "12", "drop": None, "hash": "h:12", "encrypt": "enc1:test:x",
           "truncate": None, "generalize": "10-19"}


def test_the_permissiveness_order_is_the_documented_one() -> None:
    assert PERMISSIVENESS == ("drop", "hash", "truncate", "generalize", "encrypt", "keep")


@pytest.mark.parametrize(("weaker", "stronger"),
                         list(combinations_with_replacement(PERMISSIVENESS, 2)))
def test_the_most_permissive_granted_action_wins(weaker: str, stronger: str) -> None:
    rules = load(rule("one", analytics={"x": _SPELLED[weaker]}),
                 rule("two", marketing={"x": _SPELLED[stronger]}))
    for granted in ({"analytics", "marketing"}, {"marketing"}):
        out, steps = minimize(rules, {"x": "12"}, granted)
        # "12" is not an IP: truncate fails closed to a drop.
        assert out.get("x") == _RESULT[stronger]
        expected = "drop" if stronger == "truncate" else stronger
        assert steps.get("x", "keep") == expected
    out, _ = minimize(rules, {"x": "12"}, {"analytics"})
    assert out.get("x") == _RESULT[weaker]
    out, steps = minimize(rules, {"x": "12"}, {"personalization"})
    assert out == {} and steps == {"x": "drop"}


def test_within_a_purpose_the_most_specific_path_wins_over_a_more_permissive_parent() -> None:
    rules = load(rule(analytics={"context": "keep",
                                 "context.when": {"action": "generalize", "to": "day"}}))
    out, _ = minimize(rules, {"context": {"when": "2026-11-20T10:47:12Z", "lang": "de"}},
                      {"analytics"})
    assert out == {"context": {"when": "2026-11-20T00:00:00Z", "lang": "de"}}


# -- PII guard hook-in ------------------------------------------------------------------------


def fake_guard(text: str) -> tuple[str, tuple[str, ...]]:
    redacted, count = re.subn(r"\S+@\S+", "[email]", text)
    return redacted, ("email",) if count else ()


def test_the_pii_guard_redacts_inside_kept_fields_only() -> None:
    rules = load(rule("notes", analytics={"properties": "keep", "userId": "hash",
                                          "secret": "encrypt"}))
    payload = {"properties": {"note": "mail me at a@example.com", "tags": ["x", "b@example.org"],
                              "n": 3},
               "userId": "a@example.com", "secret": "c@example.com"}
    out, steps = minimize(rules, payload, {"analytics"},
                          minimizer=Minimizer(hasher, sealer, pii_guard=fake_guard))
    assert out == {"properties": {"note": "mail me at [email]", "tags": ["x", "[email]"], "n": 3},
                   "userId": "h:a@example.com", "secret": "enc1:test:secret"}
    assert steps == {"properties.note": "redact", "properties.tags.*": "redact",
                     "userId": "hash", "secret": "encrypt"}
    out, _ = minimize(rules, payload, {"analytics"})
    assert out["properties"]["note"] == "mail me at a@example.com"  # no guard, no change


# -- destinations -----------------------------------------------------------------------------


def test_destination_rules_shape_only_their_deliveries() -> None:
    rules = load(rule("base", necessary={"id": "keep"}, marketing={"name": "keep"}),
                 {**rule("esp_only", marketing={"email": "keep"}), "destinations": ["esp"]})
    payload = {"id": "1", "name": "Ada", "email": "ada@example.com"}
    assert minimize(rules, payload, {"necessary", "marketing"})[0] == {"id": "1", "name": "Ada"}
    out, steps = minimize(rules, payload, {"marketing"}, destination="esp")
    assert out == {"name": "Ada", "email": "ada@example.com"} and steps == {"id": "drop"}
    assert minimize(rules, payload, {"marketing"}, destination="ads")[0] == {"name": "Ada"}


def identify(message_id: str, **granted: bool) -> dict[str, Any]:
    """The README's example: one identify call, sent with different consent."""
    return {
        "type": "identify", "messageId": message_id, "userId": "user-42",
        "timestamp": "2026-11-20T10:47:12Z",
        "traits": {"email": "ada@example.com", "phone": "+44 20 7946 0000",
                   "first_name": "Ada", "age": 36, "plan": "pro",
                   "address": {"city": "London", "country": "GB"}},
        "context": {"ip": "203.0.113.77", "locale": "en-GB",
                    "location": {"country": "GB", "city": "London"},
                    "consent": {"categoryPreferences": granted}},
    }


@pytest.fixture
def shipped(make_pipeline: MakePipeline) -> Iterator[Any]:
    yield make_pipeline()


def test_same_event_different_purposes_gives_the_documented_outputs(shipped: Any) -> None:
    personal = shipped.process(identify("m-1", Personalization=True, Marketing=False))
    marketing = shipped.process(identify("m-2", Personalization=False, Marketing=True))
    assert personal.status is marketing.status is Status.FORWARDED
    user = personal.event["userId"]
    assert user.startswith("h1:") and marketing.event["userId"] == user
    routing = {"type": "identify", "userId": user, "timestamp": "2026-11-20T10:47:12Z"}
    # The host adds the resolved consent (the event's own signals were dropped).
    consent = {"consent": {"categoryPreferences": {
        "marketing": False, "necessary": True, "personalization": True}}}
    assert personal.event == {
        **routing, "messageId": "m-1",
        "traits": {"age": "35-44", "plan": "pro", "address": {"country": "GB"}},
        "context": {"ip": "203.0.113.0", "locale": "en-GB", "location": {"country": "GB"},
                    **consent}}
    assert personal.deliveries == {}
    assert personal.minimization == {
        "hash": ["userId"], "generalize": ["traits.age"], "truncate": ["context.ip"],
        "drop": ["traits.email", "traits.phone", "traits.first_name", "traits.address.city",
                 "context.location.city", "context.consent"]}
    consent = {"consent": {"categoryPreferences": {
        "marketing": True, "necessary": True, "personalization": False}}}
    assert marketing.event == {
        **routing, "messageId": "m-2", "traits": {"first_name": "Ada"},
        "context": {"ip": "203.0.113.0", "location": {"country": "GB"}, **consent}}
    assert marketing.deliveries == {
        "esp": {**routing, "messageId": "m-2",
                "traits": {"email": "ada@example.com", "first_name": "Ada"}, "context": consent},
        "sms_gateway": {**routing, "messageId": "m-2",
                        "traits": {"phone": "+44 20 7946 0000", "first_name": "Ada"},
                        "context": consent}}
    assert "esp:traits.phone" in marketing.minimization["drop"]
    assert "sms_gateway:traits.email" in marketing.minimization["drop"]
    assert "esp:userId" in marketing.minimization["hash"]
    [_, record] = audit_records(shipped, "event.decision")
    assert record["minimization"] == marketing.minimization
    assert "ada@example.com" not in str(audit_records(shipped))


def test_no_delivery_for_a_destination_whose_purposes_are_not_granted(shipped: Any) -> None:
    outcome = shipped.process(identify("m-1", Personalization=True, Marketing=False))
    assert outcome.deliveries == {} and "esp" not in outcome.destinations


def test_a_failing_keyring_fails_closed(make_pipeline: MakePipeline, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _rules_copy(tmp_path)
    with (directory / "minimization.yaml").open("a") as handle:
        handle.write("  - name: sealed\n    match: {type: identify}\n    purposes:\n"
                     "      necessary: {traits.email: encrypt}\n")
    pipeline = make_pipeline(rules_dir=directory)

    def broken(self: Keyring, subject_key: str) -> Any:
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(Keyring, "_current_key", broken)
    outcome = pipeline.process(identify("m-1", Personalization=True, Marketing=True))
    assert outcome.status is Status.DROPPED and outcome.event is None
    assert "plugin_error" in outcome.reasons


# -- property: nothing outside the policy survives --------------------------------------------

_KEYS = ("a", "b", "c", "d")
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-500, 500), st.text(max_size=4),
                  st.just("2026-11-20T10:47:12Z"), st.just("203.0.113.9"))
_value = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3)),
    max_leaves=12)
_payload = st.dictionaries(st.sampled_from(_KEYS), _value, max_size=4)
_path = st.lists(st.sampled_from((*_KEYS, "*")), min_size=1, max_size=3).map(".".join)
_action = st.sampled_from(["keep", "drop", "hash", "encrypt", {"action": "truncate"},
                           {"action": "generalize", "to": "hour"},
                           {"action": "generalize", "to": "bucket", "size": 10}])
_policy = st.dictionaries(st.sampled_from(PURPOSES[:3]),
                          st.dictionaries(_path, _action, max_size=4), max_size=3)


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths of scalars and empty containers; list items as ``*``."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for item in value:
            yield from _leaves(item, (*path, "*"))
    else:
        yield path


def _covers(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    return all(p in ("*", part) for p, part in zip(pattern, path, strict=False))


@settings(max_examples=300, deadline=None)
@given(payload=_payload, policy=_policy, granted=st.frozensets(st.sampled_from(PURPOSES[:3])))
def test_no_field_path_outside_the_policy_survives(payload: dict[str, Any],
                                                   policy: dict[str, dict[str, Any]],
                                                   granted: frozenset[str]) -> None:
    rules = load(rule("random", **policy))
    named = [tuple(path.split(".")) for purpose, paths in policy.items() if purpose in granted
             for path, action in paths.items() if action != "drop"]
    every = [tuple(path.split(".")) for purpose, paths in policy.items() if purpose in granted
             for path in paths]
    out, _ = minimize(rules, payload, set(granted))
    for leaf in _leaves(out):
        if leaf == ():
            continue
        allowed = any(len(p) <= len(leaf) and _covers(p, leaf) for p in named)
        # An emptied container may remain where the policy names paths inside it.
        container = any(len(p) > len(leaf) and _covers(p, leaf) for p in every)
        assert allowed or container, leaf


def test_pii_guard_redacts_inside_kept_fields_unless_exempt(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    page = {"type": "page", "name": "Search", "messageId": "m-pii", "userId": "u-pii",
            "timestamp": "2026-11-20T10:00:00Z",
            "properties": {"path": "/search",
                           "title": "Results for jo@example.com, 4111 1111 1111 1111"},
            "context": {"consent": {"categoryPreferences": {"Analytics": True}}}}
    outcome = pipeline.process(page)
    assert outcome.event is not None
    title = outcome.event["properties"]["title"]
    assert "jo@example.com" not in title and "4111" not in title
    assert "[REDACTED:email]" in title and "[REDACTED:card]" in title
    assert outcome.minimization["redact"] == ["properties.title"]
    # The ESP's delivery keeps the address it needs: that field is exempt.
    identify = {"type": "identify", "messageId": "m-id", "userId": "u-pii",
                "timestamp": "2026-11-20T10:00:00Z", "traits": {"email": "jo@example.com"},
                "context": {"consent": {"categoryPreferences": {"Marketing": True}}}}
    outcome = pipeline.process(identify)
    assert outcome.deliveries["esp"]["traits"]["email"] == "jo@example.com"
