"""The shipped rules load; every kind of mistake is reported with file, key path and line."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp_plugin.errors import RuleProblem, RulesError
from cdp_plugin.rules import RuleSet, load_rules
from cdp_plugin.rules.loader import RULE_FILES, WHOLE_FILE

SHIPPED = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(SHIPPED)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped rules."""
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED, target)
    return target


def edit(directory: Path, name: str, old: str, new: str) -> str:
    """Replace the first ``old`` in a rules file (which must contain it); return the new text."""
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return text


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def problems_of(directory: Path) -> list[RuleProblem]:
    with pytest.raises(RulesError) as caught:
        load_rules(directory)
    return caught.value.problems


def only(problems: list[RuleProblem], directory: Path, name: str, key: str) -> RuleProblem:
    """The one problem reported for ``key`` in file ``name``."""
    found = [p for p in problems if p.file == str(directory / name) and p.key == key]
    assert len(found) == 1, f"expected one problem at {name}:{key}, got {problems}"
    return found[0]


def segment_index(rules: RuleSet, name: str) -> int:
    return [segment.name for segment in rules.segments.segments].index(name)


def rule_index(rules: RuleSet, name: str) -> int:
    return [rule.name for rule in rules.minimization.rules].index(name)


# -- the shipped rules ------------------------------------------------------------------------


def test_shipped_rules_load_completely(shipped: RuleSet) -> None:
    assert set(shipped.file_hashes) == {*RULE_FILES, "retention.yaml", "experiments.yaml"}
    assert shipped.retention.dedup_days == 30
    assert len(shipped.version) == 16
    assert int(shipped.version, 16) >= 0
    assert shipped.directory == str(SHIPPED)
    assert "necessary" in shipped.purposes.purposes
    assert shipped.purposes.purposes["marketing"].legal_basis == "consent"
    assert shipped.purposes.frequency_caps["email"].max == 3
    assert shipped.jurisdictions.default == "EU"
    names = {segment.name for segment in shipped.segments.segments}
    assert {"recently_active", "high_spender", "cart_open", "mobile_user"} <= names
    assert all(s.purpose in shipped.purposes.purposes for s in shipped.segments.segments)


def test_file_hashes_are_sha256_of_the_bytes(shipped: RuleSet) -> None:
    for name in RULE_FILES:
        expected = hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest()
        assert shipped.file_hashes[name] == expected


@pytest.mark.parametrize(
    ("event_type", "name", "expected"),
    [
        (
            "track",
            "Order Completed",
            {"necessary", "analytics", "personalization", "marketing", "advertising"},
        ),
        ("track", "Order Refunded", {"necessary", "analytics", "personalization", "marketing"}),
        ("track", "order completed", {"necessary", "analytics", "personalization"}),
        ("track", "Email Opened", {"necessary", "analytics", "personalization", "marketing"}),
        ("identify", None, {"necessary", "personalization", "marketing"}),
        ("page", "Home", {"necessary", "analytics", "personalization"}),
        ("alias", None, {"necessary"}),
    ],
)
def test_purposes_for_unions_every_matching_entry(
    shipped: RuleSet, event_type: str, name: str | None, expected: set[str]
) -> None:
    assert shipped.purposes.purposes_for(event_type, name) == frozenset(expected)
    # The memoized answer is the same on a second call.
    assert shipped.purposes.purposes_for(event_type, name) == frozenset(expected)


@pytest.mark.parametrize(
    ("country", "region", "regime"),
    [
        ("DE", None, "EU"),
        ("de", None, "EU"),
        ("NO", None, "EEA"),
        ("GB", "GB-ENG", "UK"),
        ("US", "US-CA", "US-CA"),
        ("us", "ca", "US-CA"),
        ("US", "US-VA", "US-VA"),
        ("US", "US-NY", "US"),
        (None, "US-CO", "US-CO"),
        ("ZZ", None, "EU"),
        (None, None, "EU"),
    ],
)
def test_jurisdiction_resolves_region_then_country_then_default(
    shipped: RuleSet, country: str | None, region: str | None, regime: str
) -> None:
    assert shipped.jurisdictions.resolve(country, region).name == regime


def test_jurisdiction_models(shipped: RuleSet) -> None:
    regimes = shipped.jurisdictions.regimes
    assert regimes["EU"].model == "opt_in"
    assert len(regimes["EU"].countries) == 27
    assert regimes["US-CA"].model == "opt_out"
    assert regimes["US-CA"].honours_gpc is True
    assert regimes["US-VA"].honours_gpc is False


def test_minimization_matching_and_actions(shipped: RuleSet) -> None:
    names = [rule.name for rule in shipped.minimization.matching("track", "Order Completed")]
    assert names == ["envelope", "orders"]
    envelope = shipped.minimization.rules[0]
    ip = next(f for f in envelope.purposes["necessary"] if f.path == "context.ip")
    assert ip.action == "truncate"
    assert dict(ip.params) == {"ipv4_prefix": 24, "ipv6_prefix": 48}
    user_id = next(f for f in envelope.purposes["necessary"] if f.path == "userId")
    assert (user_id.action, dict(user_id.params)) == ("hash", {})
    assert [r.name for r in shipped.minimization.matching("alias", None)] == ["envelope", "alias"]


def test_segment_counts_and_conditions(shipped: RuleSet) -> None:
    assert shipped.segments.counts_for("track", "Order Completed") == ("purchase",)
    assert shipped.segments.counts_for("page", None) == ("page_view",)
    high = shipped.segments.segments[segment_index(shipped, "high_spender")]
    assert high.min_size == 100
    assert high.condition.evaluate({"total_spend": 250.0}, NOW)
    assert not high.condition.evaluate({"total_spend": 20.0}, NOW)
    cart = shipped.segments.segments[segment_index(shipped, "cart_open")]
    added = {"last_product_added": "2026-11-25T08:00:00+00:00"}
    assert cart.condition.evaluate(added, NOW)
    assert not cart.condition.evaluate({**added, "last_purchase": "2026-11-25T09:00:00+00:00"}, NOW)


def test_hashes_and_version_change_when_a_file_changes(rules_dir: Path) -> None:
    before = load_rules(rules_dir)
    edit(rules_dir, "segments.yaml", "version: 1\n", "version: 1\n# reviewed\n")
    after = load_rules(rules_dir)
    assert after.file_hashes["segments.yaml"] != before.file_hashes["segments.yaml"]
    for name in ("purposes.yaml", "jurisdictions.yaml", "minimization.yaml"):
        assert after.file_hashes[name] == before.file_hashes[name]
    assert after.version != before.version
    assert load_rules(rules_dir).version == after.version


def test_extra_features_extend_the_condition_language(rules_dir: Path) -> None:
    edit(rules_dir, "segments.yaml", 'when: "purchase_count >= 2"', 'when: "cart.value > 100"')
    problems = problems_of(rules_dir)
    assert "unknown feature 'cart.value'" in problems[0].message
    loaded = load_rules(rules_dir, extra_features=("cart.value",))
    repeat = loaded.segments.segments[segment_index(loaded, "repeat_buyer")]
    assert repeat.condition.features == frozenset({"cart.value"})


# -- mistakes, one kind per test --------------------------------------------------------------


def test_unknown_top_level_key(rules_dir: Path) -> None:
    text = edit(rules_dir, "purposes.yaml", "\nchannels:", "\ncolour: blue\nchannels:")
    problem = only(problems_of(rules_dir), rules_dir, "purposes.yaml", "colour")
    assert problem.message.startswith("unknown key")
    assert "channels" in problem.message
    assert problem.line == line_of(text, "colour: blue")


def test_unknown_nested_key(rules_dir: Path) -> None:
    text = edit(
        rules_dir,
        "purposes.yaml",
        "  analytics:\n    legal_basis: consent\n",
        "  analytics:\n    legal_basis: consent\n    colour: red\n",
    )
    problem = only(problems_of(rules_dir), rules_dir, "purposes.yaml", "purposes.analytics.colour")
    assert problem.message.startswith("unknown key")
    assert problem.line == line_of(text, "colour: red")


def test_wrong_type(rules_dir: Path) -> None:
    text = edit(rules_dir, "purposes.yaml", "email:       {max: 3,", 'email:       {max: "3",')
    problem = only(problems_of(rules_dir), rules_dir, "purposes.yaml", "frequency_caps.email.max")
    assert problem.message == "must be an integer"
    assert problem.line == line_of(text, 'max: "3"')


def test_boolean_where_a_code_belongs_explains_yaml_quoting(rules_dir: Path) -> None:
    text = edit(rules_dir, "jurisdictions.yaml", '[IS, LI, "NO"]', "[IS, LI, NO]")
    key = "regimes.EEA.countries.2"
    problem = only(problems_of(rules_dir), rules_dir, "jurisdictions.yaml", key)
    assert '"NO"' in problem.message
    assert problem.line == line_of(text, "[IS, LI, NO]")


def test_undefined_purpose_in_the_same_file(rules_dir: Path) -> None:
    text = edit(rules_dir, "purposes.yaml", "ads: [advertising]", "ads: [advertising, resale]")
    problem = only(problems_of(rules_dir), rules_dir, "purposes.yaml", "destinations.ads.1")
    assert problem.message.startswith("undefined purpose 'resale'")
    assert problem.line == line_of(text, "ads: [advertising, resale]")


def test_undefined_purpose_across_files(rules_dir: Path, shipped: RuleSet) -> None:
    text = edit(
        rules_dir,
        "minimization.yaml",
        "      advertising:\n        properties.revenue",
        "      adverts:\n        properties.revenue",
    )
    key = f"rules.{rule_index(shipped, 'orders')}.purposes.adverts"
    problem = only(problems_of(rules_dir), rules_dir, "minimization.yaml", key)
    assert "undefined purpose 'adverts'" in problem.message
    assert problem.line == line_of(text, "adverts:")


def test_duplicate_segment_name(rules_dir: Path, shipped: RuleSet) -> None:
    index = segment_index(shipped, "high_spender")
    text = edit(rules_dir, "segments.yaml", "- name: high_spender", "- name: dormant")
    key = f"segments.{index}.name"
    problem = only(problems_of(rules_dir), rules_dir, "segments.yaml", key)
    assert problem.message.startswith("duplicate segment name 'dormant'")
    assert problem.line == line_of(text, "- name: dormant", occurrence=2)


def test_unknown_action_is_rejected_with_the_accepted_list(
    rules_dir: Path, shipped: RuleSet
) -> None:
    text = edit(
        rules_dir, "minimization.yaml", "properties.title: keep", "properties.title: tokenize"
    )
    key = f"rules.{rule_index(shipped, 'pages')}.purposes.analytics.properties.title"
    problem = only(problems_of(rules_dir), rules_dir, "minimization.yaml", key)
    assert problem.message == ("unknown action 'tokenize'; expected one of keep, drop, hash, "
                               "truncate, generalize, encrypt")
    assert problem.line == line_of(text, "properties.title: tokenize")


def test_parameters_on_an_action_that_takes_none(rules_dir: Path) -> None:
    text = edit(
        rules_dir,
        "minimization.yaml",
        "messageId: keep",
        "messageId: {action: hash, ipv4_prefix: 24}",
    )
    key = "rules.0.purposes.necessary.messageId.ipv4_prefix"
    problem = only(problems_of(rules_dir), rules_dir, "minimization.yaml", key)
    assert problem.message == "'hash' takes no parameters"
    assert problem.line == line_of(text, "messageId: {action: hash")


def test_parameter_of_another_action(rules_dir: Path) -> None:
    edit(rules_dir, "minimization.yaml", "messageId: keep",
         "messageId: {action: keep, ipv4_prefix: 24}")
    key = "rules.0.purposes.necessary.messageId.ipv4_prefix"
    problem = only(problems_of(rules_dir), rules_dir, "minimization.yaml", key)
    assert problem.message == "unknown parameter; 'keep' takes pii_scan"


def test_truncate_parameter_out_of_range(rules_dir: Path) -> None:
    edit(rules_dir, "minimization.yaml", "ipv4_prefix: 24,", "ipv4_prefix: 40,")
    key = "rules.0.purposes.necessary.context.ip.ipv4_prefix"
    problem = only(problems_of(rules_dir), rules_dir, "minimization.yaml", key)
    assert problem.message == "must be an integer from 8 to 32"


def test_malformed_field_path(rules_dir: Path, shipped: RuleSet) -> None:
    edit(rules_dir, "minimization.yaml", "properties.coupon: keep", "properties..coupon: keep")
    key = f"rules.{rule_index(shipped, 'orders')}.purposes.analytics.properties..coupon"
    problem = only(problems_of(rules_dir), rules_dir, "minimization.yaml", key)
    assert "empty segment" in problem.message


def test_bad_when(rules_dir: Path, shipped: RuleSet) -> None:
    index = segment_index(shipped, "repeat_buyer")
    text = edit(rules_dir, "segments.yaml", 'when: "purchase_count >= 2"', 'when: "purchases >= 2"')
    key = f"segments.{index}.when"
    problem = only(problems_of(rules_dir), rules_dir, "segments.yaml", key)
    assert problem.message.startswith("unknown feature 'purchases'")
    assert problem.line == line_of(text, 'when: "purchases >= 2"')


def test_unsafe_when_is_rejected(rules_dir: Path, shipped: RuleSet) -> None:
    index = segment_index(shipped, "repeat_buyer")
    edit(
        rules_dir,
        "segments.yaml",
        'when: "purchase_count >= 2"',
        "when: \"__import__('os').system('true')\"",
    )
    problem = only(problems_of(rules_dir), rules_dir, "segments.yaml", f"segments.{index}.when")
    assert "not allowed" in problem.message


def test_yaml_syntax_error(rules_dir: Path) -> None:
    text = edit(rules_dir, "segments.yaml", "  signup:        {type: track,", "  signup: {type: [")
    problem = only(problems_of(rules_dir), rules_dir, "segments.yaml", WHOLE_FILE)
    assert problem.message.startswith("YAML syntax error")
    assert problem.line is not None
    assert problem.line >= line_of(text, "signup: {type: [")


def test_duplicate_yaml_key(rules_dir: Path) -> None:
    text = edit(rules_dir, "jurisdictions.yaml", "default: EU", "default: EU\ndefault: UK")
    problem = only(problems_of(rules_dir), rules_dir, "jurisdictions.yaml", "default")
    assert problem.message == f"duplicate key; the first is on line {line_of(text, 'default: EU')}"
    assert problem.line == line_of(text, "default: UK")


def test_missing_file(rules_dir: Path) -> None:
    (rules_dir / "jurisdictions.yaml").unlink()
    problem = only(problems_of(rules_dir), rules_dir, "jurisdictions.yaml", WHOLE_FILE)
    assert "missing" in problem.message
    assert problem.line is None


def test_empty_file(rules_dir: Path) -> None:
    (rules_dir / "segments.yaml").write_text("# nothing yet\n", encoding="utf-8")
    problem = only(problems_of(rules_dir), rules_dir, "segments.yaml", WHOLE_FILE)
    assert "empty" in problem.message


def test_country_in_two_regimes(rules_dir: Path) -> None:
    edit(rules_dir, "jurisdictions.yaml", "countries: [GB]", "countries: [GB, DE]")
    problem = only(
        problems_of(rules_dir), rules_dir, "jurisdictions.yaml", "regimes.UK.countries.1"
    )
    assert problem.message == "'DE' is already listed under regimes.EU"


def test_missing_required_key_points_at_its_parent(rules_dir: Path, shipped: RuleSet) -> None:
    head = (
        "  - name: repeat_buyer\n"
        '    description: "Bought at least twice: loyalty and replenishment"\n'
    )
    text = edit(rules_dir, "segments.yaml", head + "    owner: crm\n", head)
    key = f"segments.{segment_index(shipped, 'repeat_buyer')}.owner"
    problem = only(problems_of(rules_dir), rules_dir, "segments.yaml", key)
    assert problem.message == "required key is missing"
    assert problem.line == line_of(text, "- name: repeat_buyer")


def test_every_problem_in_every_file_is_reported_at_once(rules_dir: Path, shipped: RuleSet) -> None:
    edit(rules_dir, "purposes.yaml", "\nchannels:", "\ncolour: blue\nchannels:")
    edit(rules_dir, "jurisdictions.yaml", "default: EU", "default: EUR")
    edit(rules_dir, "minimization.yaml", "properties.title: keep", "properties.title: tokenize")
    edit(rules_dir, "minimization.yaml", "userId: hash", "userId: {action: hash, bits: 8}")
    edit(rules_dir, "segments.yaml", 'when: "total_spend >= 200"', 'when: "total_spend >="')
    problems = problems_of(rules_dir)
    reported = {(Path(p.file).name, p.key) for p in problems}
    pages = rule_index(shipped, "pages")
    assert reported == {
        ("purposes.yaml", "colour"),
        ("jurisdictions.yaml", "default"),
        ("minimization.yaml", "rules.0.purposes.necessary.userId.bits"),
        ("minimization.yaml", f"rules.{pages}.purposes.analytics.properties.title"),
        ("segments.yaml", f"segments.{segment_index(shipped, 'high_spender')}.when"),
    }
    # Problems come file by file, in line order within a file.
    files = [Path(p.file).name for p in problems]
    assert files == sorted(files, key=RULE_FILES.index)
    minimization_lines = [p.line or 0 for p in problems if p.file.endswith("minimization.yaml")]
    assert minimization_lines == sorted(minimization_lines)
    assert all(str(p) in str(RulesError(problems)) for p in problems)


def test_a_missing_purposes_file_does_not_invent_purpose_errors(rules_dir: Path) -> None:
    (rules_dir / "purposes.yaml").unlink()
    problems = problems_of(rules_dir)
    assert [(Path(p.file).name, p.key) for p in problems] == [("purposes.yaml", WHOLE_FILE)]


def test_retention_file_is_optional_and_validated(rules_dir: Path) -> None:
    (rules_dir / "retention.yaml").unlink()
    loaded = load_rules(rules_dir)
    assert "retention.yaml" not in loaded.file_hashes and loaded.retention.dedup_days == 30
    (rules_dir / "retention.yaml").write_text("version: 1\ndedup_days: -3\n")
    [problem] = problems_of(rules_dir)
    assert problem.file.endswith("retention.yaml") and problem.key == "dedup_days"


def test_minimization_destinations_must_be_defined(rules_dir: Path) -> None:
    text = edit(rules_dir, "minimization.yaml", "destinations: [esp]", "destinations: [fax]")
    [problem] = problems_of(rules_dir)
    assert problem.file.endswith("minimization.yaml") and "fax" in problem.message
    assert problem.line == line_of(text, "destinations: [fax]")
