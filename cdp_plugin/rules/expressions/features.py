"""The feature names a condition may read: the core profile features and three per counter."""

from __future__ import annotations

from collections.abc import Iterable

CORE_FEATURES: frozenset[str] = frozenset(
    {
        # activity
        "first_seen",
        "last_seen",
        "recency_days",
        "event_count",
        "events_7d",
        "events_30d",
        "events_90d",
        "active_days_30d",
        "last_event_type",
        "view_count",
        # purchases
        "total_spend",
        "average_order_value",
        "currency",
        "cohort_average_order_value",
        "purchase_interval_days",
        "purchase_interval_spread_days",
        "next_purchase_expected",
        "accessory_orders",
        "accessory_attach_rate",
        "season_purchases",
        "season_purchase_share",
        # product categories
        "top_category",
        "top_category_share",
        "top_categories",
        "top_category_shares",
        # cart
        "cart_open",
        "cart_items",
        "cart_value",
        "cart_last_activity",
        # sessions
        "session_count",
        "last_session_depth",
        "last_session_seconds",
        "avg_session_depth",
        "avg_session_seconds",
        "avg_view_seconds",
        # context
        "last_device_type",
        "last_channel",
        "last_locale",
        "last_language",
        "last_timezone",
        "active_channels_30d",
    }
)
"""Features of every subject profile; each counter adds ``<count>_count``, ``first_<count>``
and ``last_<count>``. :mod:`cdp_plugin.segments.view` says how each is computed."""

CHANNEL_FEATURES: frozenset[str] = frozenset({"active_channels_30d"})
"""Core features computed from the counters the ``channels`` setting names."""


def count_features(count: str) -> tuple[str, str, str]:
    """The features a behaviour counter named ``count`` provides: how many, first and last."""
    return f"{count}_count", f"first_{count}", f"last_{count}"


def feature_names(counts: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
    """Every feature a condition may use: the core ones, three per counter, and ``extra``."""
    names = set(CORE_FEATURES)
    for count in counts:
        names.update(count_features(count))
    names.update(extra)
    return frozenset(names)
