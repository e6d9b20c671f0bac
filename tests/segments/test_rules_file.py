"""segments.yaml: counters with purposes, the features section, and what each segment requires."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdp_plugin.errors import RuleProblem, RulesError
from cdp_plugin.rules import load_rules
from cdp_plugin.rules.model import FeatureSettings, Season
from tests.conftest import RULES_DIR

SHIPPED = load_rules(RULES_DIR).segments
AUTUMN = "features.seasons.autumn_sale"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def edit(directory: Path, old: str, new: str) -> None:
    path = directory / "segments.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(directory: Path) -> list[RuleProblem]:
    with pytest.raises(RulesError) as caught:
        load_rules(directory)
    return caught.value.problems


def test_each_segment_requires_its_purposes_and_those_of_its_features() -> None:
    requires = {rule.name: rule.requires for rule in SHIPPED.segments}
    assert requires["repeat_buyer"] == {"personalization"}
    assert requires["dormant"] == {"personalization", "marketing"}
    assert requires["email_engaged"] == {"personalization", "marketing"}
    # Personalization's own purpose, but email opens (a channel) are kept for marketing.
    assert requires["highly_engaged"] == {"personalization", "marketing"}
    assert SHIPPED.purpose_of("email_open") == "marketing"
    assert SHIPPED.purpose_of("purchase") == "personalization"
    assert SHIPPED.purposes == {"personalization", "marketing"}


def test_every_segment_is_described_owned_and_reviewed() -> None:
    for rule in SHIPPED.segments:
        assert len(rule.description) > 20 and rule.owner and rule.review_status
    statuses = {rule.review_status for rule in SHIPPED.segments}
    assert {"approved", "in_review"} <= statuses


def test_feature_settings_are_loaded() -> None:
    settings = SHIPPED.features
    assert settings.purchase == "purchase" and settings.cart_add == {"product_added"}
    assert settings.is_accessory("Computer Accessories") and not settings.is_accessory("Laptops")
    assert Season("autumn_sale", (10, 20), (10, 27)) in settings.seasons
    assert settings.channels["email"] == ("email_open", "email_click")
    holidays = Season("winter", (12, 20), (1, 6))
    assert holidays.contains(12, 31) and holidays.contains(1, 2) and not holidays.contains(2, 1)


def test_the_features_section_may_be_left_out(rules_dir: Path) -> None:
    path = rules_dir / "segments.yaml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("\nfeatures:\n"), text.index("\nsegments:\n")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    edit(rules_dir, "active_days_30d >= 8 and active_channels_30d >= 2", "active_days_30d >= 8")
    loaded = load_rules(rules_dir).segments
    assert loaded.features == FeatureSettings()


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ("add: [product_added]", "add: [product_adder]", "features.cart.add.0",
     "unknown counter 'product_adder'"),
    ("purchase: purchase\n", "purchase: email_open\n", "features.purchase",
     "counter 'email_open' is kept for 'marketing'"),
    ("web: [page_view]", "web: [page_views]", "features.channels.web.0",
     "unknown counter 'page_views'"),
    ('autumn_sale:  {from: "10-20"', 'autumn_sale:  {from: "02-30"', f"{AUTUMN}.from",
     "month 2 has no day 30"),
    ('autumn_sale:  {from: "10-20"', "autumn_sale:  {from: 1020", f"{AUTUMN}.from",
     'must be a day "MM-DD"'),
    ("purpose: marketing}", "purpose: telepathy}", "counts.email_open.purpose",
     "undefined purpose 'telepathy'"),
    ("profiling_purpose: personalization", "profiling_purpose: profiling",
     "features.profiling_purpose", "undefined purpose 'profiling'"),
    ("session_gap_minutes: 30", "session_gap_minutes: 0", "features.session_gap_minutes",
     "must be from 1 to 1440"),
    ("  feature_used:  {type: track,", "  seen:  {type: track,", "counts.seen",
     "its feature 'first_seen' clashes with a core feature"),
])
def test_mistakes_name_the_file_and_key(rules_dir: Path, old: str, new: str, key: str,
                                        message: str) -> None:
    edit(rules_dir, old, new)
    found = [p for p in problems(rules_dir) if p.key == key]
    assert found and message in found[0].message, problems(rules_dir)
    assert found[0].file.endswith("segments.yaml") and found[0].line is not None
