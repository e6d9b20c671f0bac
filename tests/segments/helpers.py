"""Small builders for segmentation tests: events and folded profiles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_plugin.rules import RuleSet, load_rules
from cdp_plugin.segments.features import fold
from cdp_plugin.segments.profile import FEATURES, PURPOSE_FEATURES
from cdp_plugin.segments.view import feature_view
from cdp_plugin.types import Event
from tests.conftest import RULES_DIR

RULES: RuleSet = load_rules(RULES_DIR)
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
ALL = frozenset({"necessary", "analytics", "personalization", "marketing", "advertising"})
PROFILING = frozenset({"necessary", "analytics", "personalization"})


def at(days: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(days=days, minutes=minutes)


def event(kind: str, name: str | None, when: datetime, properties: Mapping[str, Any] | None = None,
          *, device: str = "ios", channel: str = "mobile", locale: str = "de-DE") -> Event:
    """A valid message of ``kind`` (track, page, screen...) named ``name`` at ``when``."""
    context: dict[str, Any] = {"channel": channel, "locale": locale}
    if channel != "server":
        context["device"] = {"type": device}
        context["timezone"] = "Europe/Berlin"
    payload: dict[str, Any] = {"type": kind, "context": context,
                               "properties": dict(properties or {})}
    return Event(type=kind, message_id=f"m-{when.timestamp()}-{name}", subject_id="u-1",
                 subject_key="sk-1", timestamp=when, payload=payload, name=name)


def track(name: str, when: datetime, **properties: Any) -> Event:
    return event("track", name, when, properties)


def order(when: datetime, revenue: float, *categories: str, currency: str = "EUR") -> Event:
    products = [{"category": category, "price": 1.0} for category in categories]
    return track("Order Completed", when, revenue=revenue, currency=currency, products=products)


def folded(events: Iterable[Event], granted: frozenset[str] = ALL) -> dict[str, Any]:
    """A profile with ``events`` folded in, in the given order."""
    profile: dict[str, Any] = {FEATURES: {}, PURPOSE_FEATURES: {}}
    for each in events:
        fold(profile[FEATURES], profile[PURPOSE_FEATURES], each, RULES.segments, granted)
    return profile


def view_of(profile: Mapping[str, Any], now: datetime,
            cohort: float | None = None) -> dict[str, Any]:
    return feature_view(profile, now, RULES.segments.features, cohort)
