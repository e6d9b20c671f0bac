"""Incremental features: what each one means, and that state stays bounded in bytes."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin.rules.expressions import CORE_FEATURES, count_features
from cdp_plugin.segments import features as f
from cdp_plugin.segments.features import fold
from cdp_plugin.segments.profile import FEATURES, PURPOSE_FEATURES
from cdp_plugin.types import Event
from tests.segments.helpers import (
    ALL,
    PROFILING,
    RULES,
    at,
    event,
    folded,
    order,
    track,
    view_of,
)

STATE_BOUND = 8192
"""Bytes of JSON a subject's segmentation state may take with the default rules."""
INTERNAL = {f.DAYS, f.CATEGORIES, f.INTERVALS, f.SESSION, f.SESSIONS, f.DWELL, f.ORDERS,
            f.PRICED_ORDERS, "category_total"}


def test_rolling_windows_count_events_per_day_and_forget_old_days() -> None:
    days = [0, 0, 1, 40, 70, 85, 89]
    profile = folded(event("page", "Home", at(day), device="web") for day in days)
    seen = view_of(profile, at(89))
    assert (seen["events_7d"], seen["events_30d"], seen["events_90d"]) == (2, 3, 7)
    assert seen["active_days_30d"] == 3 and seen["event_count"] == 7
    later = view_of(profile, at(130))
    assert (later["events_7d"], later["events_30d"], later["events_90d"]) == (0, 0, 3)
    assert later["recency_days"] == 41


def test_daily_buckets_never_exceed_the_longest_window() -> None:
    profile = folded(event("screen", "Home", at(day)) for day in range(400))
    assert len(profile[FEATURES][f.DAYS]) == f.WINDOW_DAYS
    # A late event older than the window still counts, but in no window.
    fold(profile[FEATURES], {}, event("screen", "Home", at(1)), RULES.segments, ALL)
    assert view_of(profile, at(399))["events_90d"] == 90
    assert profile[FEATURES]["event_count"] == 401


def test_purchase_cadence_is_welford_mean_and_spread_of_the_gaps() -> None:
    days = [0.0, 6.5, 14.0, 20.0, 27.5]
    profile = folded(order(at(day), 20.0, "Coffee Capsules") for day in days)
    seen = view_of(profile, at(28))
    gaps = [b - a for a, b in pairwise(days)]
    assert abs(seen["purchase_interval_days"] - statistics.fmean(gaps)) < 1e-9
    assert abs(seen["purchase_interval_spread_days"] - statistics.pstdev(gaps)) < 1e-9
    expected = at(27.5) + timedelta(days=statistics.fmean(gaps))
    assert seen["next_purchase_expected"] == f.iso(expected)
    assert (seen["total_spend"], seen["average_order_value"]) == (100.0, 20.0)
    # A late order counts but does not distort the gaps between orders in time order.
    fold(profile[FEATURES], {}, order(at(3), 20.0), RULES.segments, ALL)
    assert view_of(profile, at(28))["purchase_interval_days"] == seen["purchase_interval_days"]
    assert profile[FEATURES]["purchase_count"] == 6


def test_accessories_count_only_alongside_a_core_product_and_seasons_by_date() -> None:
    profile = folded([
        order(at(0), 50.0, "Laptops", "Computer Accessories"),
        order(at(1), 10.0, "Computer Accessories"),
        order(datetime(2026, 10, 21, 12, tzinfo=UTC), 50.0, "Laptops"),
        order(datetime(2026, 11, 25, 12, tzinfo=UTC), 50.0, "Laptops"),
    ])
    seen = view_of(profile, at(60))
    assert seen["accessory_orders"] == 1 and seen["accessory_attach_rate"] == 0.25
    assert seen["season_purchases"] == 2 and seen["season_purchase_share"] == 0.5
    assert seen["currency"] == "EUR"


def test_top_categories_with_shares_in_a_capped_table() -> None:
    events = [track("Product Viewed", at(0, i), category="Shoes") for i in range(30)]
    events += [track("Product Viewed", at(1, i), category=f"Rare {i}") for i in range(50)]
    profile = folded(events)
    table = profile[FEATURES][f.CATEGORIES]
    assert len(table) == f.MAX_CATEGORIES and "Shoes" in table
    seen = view_of(profile, at(2))
    assert seen["top_category"] == "Shoes" and seen["top_category_share"] == 30 / 80
    assert seen["top_categories"][0] == "Shoes" and len(seen["top_categories"]) == 3
    assert seen["top_category_shares"][0] == 30 / 80 and len(seen["top_category_shares"]) == 3


def test_cart_opens_shrinks_closes_and_ignores_late_events() -> None:
    added = {"price": 20.0, "quantity": 2}
    profile = folded([track("Product Added", at(0), **added),
                      track("Product Added", at(0, 5), price=5.0),
                      track("Product Removed", at(0, 6), price=5.0)])
    seen = view_of(profile, at(1))
    assert (seen["cart_open"], seen["cart_items"], seen["cart_value"]) == (True, 2, 40.0)
    assert seen["cart_last_activity"] == f.iso(at(0, 6))
    fold(profile[FEATURES], {}, track("Cart Viewed", at(0, 30)), RULES.segments, ALL)
    fold(profile[FEATURES], {}, order(at(0, 40), 40.0), RULES.segments, ALL)
    fold(profile[FEATURES], {}, track("Product Added", at(0, 35), price=9.0), RULES.segments, ALL)
    seen = view_of(profile, at(1))
    assert (seen["cart_open"], seen["cart_items"], seen["cart_value"]) == (False, 0, 0.0)
    assert seen["cart_last_activity"] == f.iso(at(0, 40))


def test_sessions_split_on_a_gap_and_server_messages_are_not_sessions() -> None:
    views = [event("page", "Guide", at(0, m), {"time_on_page_s": 300}, device="web",
                   channel="browser") for m in (0, 5, 10)]
    views += [event("page", "Home", at(0, 120), {"time_on_page_s": 30}, device="web",
                    channel="browser")]
    email = event("track", "Email Opened", at(0, 200), channel="server")
    used = event("track", "Feature Used", at(0, 121), device="web", channel="browser")
    profile = folded([*views, used, email])
    seen = view_of(profile, at(1))
    assert seen["session_count"] == 2 and seen["view_count"] == 4
    assert (seen["last_session_depth"], seen["last_session_seconds"]) == (1, 30)
    assert seen["avg_session_depth"] == 2 and seen["avg_session_seconds"] == 465
    assert seen["avg_view_seconds"] == 232.5
    # The email service's message is activity, but not the subject's device or channel.
    assert seen["last_seen"] == f.iso(at(0, 200)) and seen["last_channel"] == "browser"
    assert seen["last_device_type"] == "web" and seen["last_language"] == "de"


def test_a_counter_kept_for_another_purpose_needs_that_purpose() -> None:
    opened = event("track", "Email Opened", at(0), channel="server")
    without = folded([opened], granted=PROFILING)
    assert "email_open_count" not in without[FEATURES] and not without[PURPOSE_FEATURES]
    granted = folded([opened, event("track", "Email Opened", at(1), channel="server")])
    assert granted[PURPOSE_FEATURES]["marketing"]["email_open_count"] == 2
    assert "email_open_count" not in granted[FEATURES]
    assert granted[FEATURES]["event_count"] == 2
    seen = view_of(granted, at(2))
    assert seen["email_open_count"] == 2 and seen["active_channels_30d"] == 1


def test_every_feature_conditions_may_name_is_computed() -> None:
    known = set(CORE_FEATURES)
    for count in RULES.segments.counts:
        known.update(count_features(count))
    events = [
        event("page", "Guide", at(0), {"time_on_page_s": 200}, device="web", channel="browser"),
        event("screen", "Home", at(0, 60), {"time_on_screen_s": 5}),
        track("Signed Up", at(0, 61)), track("Profile Completed", at(0, 62)),
        track("Tutorial Completed", at(0, 63)), track("Tutorial Skipped", at(0, 64)),
        track("Feature Used", at(0, 65)), track("Product Viewed", at(0, 66), category="Shoes"),
        track("Product Added", at(0, 67), category="Shoes", price=3.0),
        track("Product Removed", at(0, 68), price=3.0), track("Cart Viewed", at(0, 69)),
        track("Checkout Started", at(0, 70)), order(at(1), 30.0, "Shoes", "Shoe Accessories"),
        order(datetime(2026, 10, 22, tzinfo=UTC), 30.0, "Shoes"),
        event("track", "Email Opened", at(2), channel="server"),
        event("track", "Email Link Clicked", at(2), channel="server"),
        track("Push Notification Tapped", at(2, 1)),
    ]
    seen = view_of(folded(events), at(22), cohort=25.0)
    visible = set(seen) - INTERNAL
    assert visible == known, (sorted(known - visible), sorted(visible - known))


# -- bounded state -----------------------------------------------------------------------------

_NAMES = ["Order Completed", "Product Added", "Product Removed", "Product Viewed", "Cart Viewed",
          "Checkout Started", "Signed Up", "Feature Used", "Email Opened", "Tutorial Skipped"]
_TEXT = st.text(min_size=0, max_size=300)
_PROPERTIES = st.fixed_dictionaries({}, optional={
    "category": _TEXT,
    "products": st.lists(st.fixed_dictionaries({"category": _TEXT}), max_size=80),
    "revenue": st.floats(min_value=0, max_value=1e9),
    "currency": _TEXT,
    "price": st.floats(allow_nan=True, allow_infinity=True),
    "quantity": st.integers(-5, 10**6),
    "time_on_page_s": st.floats(min_value=0, max_value=1e7),
})
_EVENTS = st.lists(st.tuples(
    st.sampled_from(["track", "page", "screen", "identify"]),
    st.one_of(st.sampled_from(_NAMES), _TEXT),
    st.floats(min_value=0, max_value=3 * 365 * 86400),
    _PROPERTIES,
    st.tuples(_TEXT, _TEXT, st.sampled_from(["browser", "mobile", "server", "x" * 200])),
), min_size=1, max_size=120)


def _event(kind: str, name: str, seconds: float, properties: dict[str, Any],
           context: tuple[str, str, str]) -> Event:
    device, locale, channel = context
    built = event(kind, name, at(0) + timedelta(seconds=seconds), properties, device=device,
                  channel=channel, locale=locale)
    return built


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(_EVENTS, min_size=1, max_size=4))
def test_state_stays_bounded_in_bytes_whatever_arrives(
        batches: list[list[tuple[str, str, float, dict[str, Any], tuple[str, str, str]]]]) -> None:
    profile: dict[str, Any] = {FEATURES: {}, PURPOSE_FEATURES: {}}
    total = 0
    for batch in batches:
        for kind, name, seconds, properties, context in batch:
            fold(profile[FEATURES], profile[PURPOSE_FEATURES],
                 _event(kind, name, seconds, properties, context), RULES.segments, ALL)
            total += 1
        assert len(json.dumps(profile)) <= STATE_BOUND
    assert profile[FEATURES]["event_count"] == total


def test_state_stays_bounded_over_a_long_busy_history() -> None:
    profile: dict[str, Any] = {FEATURES: {}, PURPOSE_FEATURES: {}}
    sizes = []
    for i in range(20_000):
        name = _NAMES[i % len(_NAMES)]
        built = event("track", name, at(i / 40), {
            "category": f"Category {i % 97} " + "x" * 80, "revenue": 12.5, "price": 2.0,
            "products": [{"category": f"Line {i % 13}"}]}, locale=f"xx-{i % 50}" * 20)
        fold(profile[FEATURES], profile[PURPOSE_FEATURES], built, RULES.segments, ALL)
        if i % 5000 == 4999:
            sizes.append(len(json.dumps(profile)))
    assert max(sizes) <= STATE_BOUND
    assert sizes[-1] <= sizes[0] + 64  # no growth beyond digits of counters
