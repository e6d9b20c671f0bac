"""Ground truth for the planted stream: each default segment restated over planned steps.

Each definition of ``rules/segments.yaml`` is written again here, in plain
Python over what :mod:`tests.segments.planted` planned for a subject (its
steps, consents, device and language), independently of the features and the
rule engine, so that comparing the two tests both. It holds for the default
rules and the default ``purposes.yaml``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.segments.planted import PlantedSubject, Step

MARKETING_SEGMENTS = frozenset({
    "signed_up_not_purchased", "cart_open", "cart_abandoned", "replenishment_due", "dormant",
    "email_engaged", "highly_engaged",
})
"""Default segments that need marketing consent (their purpose, or features kept for it)."""
MARKETING_EVENTS = frozenset({"Signed Up", "Product Added", "Checkout Started",
                              "Order Completed", "Email Opened", "Email Link Clicked"})
"""The planted messages that serve marketing under the default ``purposes.yaml``: only
they update the segments that need marketing, as they arrive."""

CORE_CATEGORY = "Laptops"
ACCESSORY_CATEGORY = "Computer Accessories"
_DAY = timedelta(days=1)
_SESSION_GAP = timedelta(minutes=30)
_SEASON = ((10, 20), (10, 27))  # the autumn sale of the default rules


def segments_at(subject: PlantedSubject, at: datetime) -> frozenset[str]:
    """The default segments ``subject`` is in when evaluated at ``at``."""
    if not subject.consent["personalization"]:
        return frozenset()
    if subject.withdrawn_at is not None and at >= subject.withdrawn_at:
        return frozenset()
    facts = _Facts(subject, at)
    found = {name for name, holds in _ORACLES.items() if holds(facts)}
    if not subject.consent["marketing"]:
        found -= MARKETING_SEGMENTS
    return frozenset(found)


class _Facts:
    """What the planted steps say about a subject when evaluated at ``at``."""

    def __init__(self, subject: PlantedSubject, at: datetime) -> None:
        self.subject, self.at = subject, at
        steps = [s for s in subject.steps if s.at <= at and (
            subject.withdrawn_at is None or s.at < subject.withdrawn_at)]
        self.steps = steps
        self.client = [s for s in steps if not s.server]
        self.views = [s for s in self.client if s.kind in ("page", "screen")]
        self.orders = [s for s in steps if s.name == "Order Completed"]
        marketing = subject.consent["marketing"]
        self.opens = [s for s in steps if s.name == "Email Opened" and marketing]
        self.clicks = [s for s in steps if s.name == "Email Link Clicked" and marketing]

    def named(self, name: str) -> list[Step]:
        return [s for s in self.steps if s.name == name]

    def ago(self, moment: datetime) -> timedelta:
        return self.at - moment

    def since_signup(self) -> timedelta | None:
        signups = self.named("Signed Up")
        return self.ago(signups[0].at) if signups else None

    def sessions(self) -> list[tuple[int, float]]:
        """(views, seconds) per visit on the subject's own devices."""
        found: list[list[Step]] = []
        for step in self.client:
            if found and step.at - found[-1][-1].at <= _SESSION_GAP:
                found[-1].append(step)
            else:
                found.append([step])
        result = []
        for visit in found:
            shown = [s for s in visit if s.kind in ("page", "screen")]
            dwell = sum(_dwell(s) for s in shown)
            elapsed = (visit[-1].at - visit[0].at).total_seconds()
            result.append((len(shown), dwell if dwell > 0 else elapsed))
        return result

    def cart(self) -> tuple[int, datetime | None]:
        """Items in the cart and the time of the last cart activity."""
        items, last = 0, None
        for step in self.steps:
            if step.name == "Product Added":
                items += 1
            elif step.name == "Product Removed":
                items = max(0, items - 1)
            elif step.name == "Order Completed":
                items = 0
            elif step.name not in ("Cart Viewed", "Checkout Started"):
                continue
            last = step.at
        return items, last

    def cadence(self) -> tuple[float, float, datetime] | None:
        times = [s.at for s in self.orders]
        gaps = [(b - a) / _DAY for a, b in pairwise(times)]
        if not gaps:
            return None
        mean = statistics.fmean(gaps)
        return mean, statistics.pstdev(gaps), times[-1] + mean * _DAY

    def spend(self) -> float:
        return sum(float(s.properties["revenue"]) for s in self.orders)


def _dwell(step: Step) -> float:
    value = step.properties.get("time_on_page_s", step.properties.get("time_on_screen_s", 0))
    return float(value)


def _in_window(facts: _Facts) -> bool:
    since = facts.since_signup()
    return since is not None and since <= 30 * _DAY


def _new(facts: _Facts) -> bool:
    return bool(facts.steps) and facts.ago(facts.steps[0].at) <= 14 * _DAY


def _recent(facts: _Facts) -> bool:
    return bool(facts.steps) and facts.ago(facts.steps[-1].at) <= 7 * _DAY


def _dormant_now(facts: _Facts) -> bool:
    return len(facts.steps) >= 10 and facts.ago(facts.steps[-1].at) > 60 * _DAY


def _completed(facts: _Facts) -> bool:
    return (_in_window(facts) and bool(facts.named("Profile Completed"))
            and bool(facts.named("Tutorial Completed")))


def _skipped(facts: _Facts) -> bool:
    skips, signups = facts.named("Tutorial Skipped"), facts.named("Signed Up")
    return (_in_window(facts) and bool(skips) and not facts.named("Profile Completed")
            and timedelta(0) <= skips[0].at - signups[0].at <= timedelta(hours=1))


def _adopter(facts: _Facts) -> bool:
    return _in_window(facts) and len(facts.named("Feature Used")) >= 2


def _passive(facts: _Facts) -> bool:
    return _in_window(facts) and not facts.named("Feature Used") and len(facts.views) >= 5


def _first_purchase(facts: _Facts) -> bool:
    if not _in_window(facts) or not facts.orders:
        return False
    gap = facts.orders[0].at - facts.named("Signed Up")[0].at
    return timedelta(0) <= gap <= 7 * _DAY


def _not_purchased(facts: _Facts) -> bool:
    return _in_window(facts) and not facts.orders


def _cart_open(facts: _Facts) -> bool:
    added = facts.named("Product Added")
    if not added or facts.ago(added[-1].at) > 2 * _DAY:
        return False
    return not facts.orders or added[-1].at > facts.orders[-1].at


def _abandoned(facts: _Facts) -> bool:
    items, last = facts.cart()
    return items > 0 and last is not None and _DAY <= facts.ago(last) <= 7 * _DAY


def _due(facts: _Facts) -> bool:
    cadence = facts.cadence()
    if len(facts.orders) < 3 or cadence is None:
        return False
    mean, spread, expected = cadence
    return (spread <= 0.5 * mean and expected - facts.at <= 2 * _DAY
            and facts.at - expected <= 7 * _DAY)


def _above_average(facts: _Facts) -> bool:
    # The planted amounts keep every cohort average far from both sides: only the
    # big spenders' orders (600) are above it, all others (at most 55) below.
    return bool(facts.orders) and facts.spend() / len(facts.orders) >= 500


def _accessories(facts: _Facts) -> bool:
    both = [s for s in facts.orders if {p["category"] for p in s.properties["products"]}
            == {CORE_CATEGORY, ACCESSORY_CATEGORY}]
    return bool(both) and len(both) / len(facts.orders) >= 0.5


def _seasonal(facts: _Facts) -> bool:
    if len(facts.orders) < 2:
        return False
    inside = [s for s in facts.orders if _SEASON[0] <= (s.at.month, s.at.day) <= _SEASON[1]]
    return len(inside) / len(facts.orders) >= 0.75


def _engaged(facts: _Facts) -> bool:
    today = facts.at.date()
    days = {s.at.date() for s in facts.steps if 0 <= (today - s.at.date()).days < 30}
    since = facts.at - 30 * _DAY
    channels = [
        any(s.kind == "page" and s.at >= since for s in facts.steps),
        any(s.kind == "screen" and s.at >= since for s in facts.steps),
        any(s.at >= since for s in facts.opens + facts.clicks),
    ]
    return len(days) >= 8 and sum(channels) >= 2


def _email_engaged(facts: _Facts) -> bool:
    recent = [s for s in facts.opens + facts.clicks if facts.ago(s.at) <= 30 * _DAY]
    return len(facts.opens) >= 3 and bool(recent)


def _deep(facts: _Facts) -> bool:
    visits = facts.sessions()
    return (len(visits) >= 3 and statistics.fmean(v for v, _ in visits) >= 4
            and statistics.fmean(s for _, s in visits) >= 240)


def _short(facts: _Facts) -> bool:
    visits = facts.sessions()
    return (facts.subject.mobile and len(visits) >= 2
            and statistics.fmean(s for _, s in visits) < 120)


def _long_reads(facts: _Facts) -> bool:
    return not facts.subject.mobile and facts.subject.reader and bool(facts.views)


_ORACLES: Mapping[str, Callable[[_Facts], bool]] = {
    "new_customer": _new,
    "onboarding_completed": _completed,
    "onboarding_skipped": _skipped,
    "early_adopter": _adopter,
    "passive_explorer": _passive,
    "first_purchase_in_window": _first_purchase,
    "signed_up_not_purchased": _not_purchased,
    "cart_open": _cart_open,
    "cart_abandoned": _abandoned,
    "recently_active": _recent,
    "dormant": _dormant_now,
    "highly_engaged": _engaged,
    "email_engaged": _email_engaged,
    "deep_engagement": _deep,
    "repeat_buyer": lambda facts: len(facts.orders) >= 2,
    "high_spender": lambda facts: facts.spend() >= 200,
    "above_average_spender": _above_average,
    "replenishment_due": _due,
    "accessory_affinity": _accessories,
    "seasonal_shopper": _seasonal,
    "mobile_short_sessions": _short,
    "desktop_long_reads": _long_reads,
    "mobile_user": lambda facts: facts.subject.mobile and bool(facts.client),
    "app_channel": lambda facts: facts.subject.mobile and bool(facts.client),
    "web_channel": lambda facts: not facts.subject.mobile and bool(facts.client),
    "german_speakers": lambda facts: facts.subject.locale.startswith("de") and bool(facts.client),
    "french_speakers": lambda facts: facts.subject.locale.startswith("fr") and bool(facts.client),
}
"""Each default segment's definition, restated over the planted steps."""
