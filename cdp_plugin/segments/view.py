"""What segment conditions see: the stored features plus those derived at a given time.

Rolling-window counts, recency, cadence, shares and averages depend on the
evaluation time or on several stored values, so they are computed here, each
time a subject is evaluated, from the bounded state that
:mod:`cdp_plugin.segments.features` keeps. A value that cannot be computed
(no orders yet, no sessions) is left out: conditions read it as missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_plugin.rules.expressions import count_features
from cdp_plugin.rules.model import FeatureSettings
from cdp_plugin.segments import features as f
from cdp_plugin.segments.profile import FEATURES, PURPOSE_FEATURES

TOP_CATEGORIES = 3
ACTIVE_CHANNEL_DAYS = 30


def feature_view(profile: Mapping[str, Any], now: datetime, settings: FeatureSettings,
                 cohort_average: float | None = None) -> dict[str, Any]:
    """The features of ``profile`` as conditions see them at ``now``.

    ``cohort_average`` is the average order value of the subject's currency
    cohort (:mod:`cdp_plugin.segments.population`), if known.
    """
    stored: Mapping[str, Any] = profile.get(FEATURES) or {}
    view = dict(stored)
    for kept in (profile.get(PURPOSE_FEATURES) or {}).values():
        view.update(kept)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    _activity(view, stored, now)
    _orders(view, stored, cohort_average)
    _categories(view, stored)
    _sessions(view, stored)
    if "cart_items" in stored:
        view["cart_open"] = stored["cart_items"] > 0
    _channels(view, settings, now)
    return view


def _activity(view: dict[str, Any], stored: Mapping[str, Any], now: datetime) -> None:
    today = int(now.timestamp() // f.DAY_SECONDS)
    week = month = quarter = active = 0
    for day, count in (stored.get(f.DAYS) or {}).items():
        age = today - int(day)
        if not 0 <= age < f.WINDOW_DAYS:
            continue
        quarter += count
        if age < 30:
            month += count
            active += 1
            if age < 7:
                week += count
    view.update(events_7d=week, events_30d=month, events_90d=quarter, active_days_30d=active)
    last_seen = stored.get("last_seen")
    if isinstance(last_seen, str):
        elapsed = now - datetime.fromisoformat(last_seen)
        view["recency_days"] = elapsed.total_seconds() / f.DAY_SECONDS


def _orders(view: dict[str, Any], stored: Mapping[str, Any], cohort: float | None) -> None:
    orders = stored.get(f.ORDERS) or 0
    if orders:
        view["accessory_attach_rate"] = stored.get("accessory_orders", 0) / orders
        view["season_purchase_share"] = stored.get("season_purchases", 0) / orders
    intervals = stored.get(f.INTERVALS)
    if intervals and intervals[0] > 0:
        count, mean, m2, last = intervals
        view["purchase_interval_days"] = mean
        view["purchase_interval_spread_days"] = math.sqrt(max(m2, 0.0) / count)
        expected = datetime.fromtimestamp(last, UTC) + timedelta(days=mean)
        view["next_purchase_expected"] = f.iso(expected)
    if cohort is not None:
        view["cohort_average_order_value"] = cohort


def _categories(view: dict[str, Any], stored: Mapping[str, Any]) -> None:
    table: Mapping[str, int] = stored.get(f.CATEGORIES) or {}
    total = stored.get("category_total") or 0
    if not table or not total:
        return
    top = sorted(table, key=lambda name: (-table[name], name))[:TOP_CATEGORIES]
    # Counts inherited on eviction may overestimate a share; it never exceeds 1.
    shares = [min(1.0, table[name] / total) for name in top]
    view.update(top_category=top[0], top_category_share=shares[0], top_categories=top,
                top_category_shares=shares)


def _sessions(view: dict[str, Any], stored: Mapping[str, Any]) -> None:
    current = stored.get(f.SESSION)
    if current is None:
        return
    finished, depth, spent = stored.get(f.SESSIONS) or (0, 0.0, 0.0)
    seconds = f.session_seconds(current)
    count = finished + 1
    view.update(
        session_count=count,
        last_session_depth=current[2],
        last_session_seconds=seconds,
        avg_session_depth=(depth * finished + current[2]) / count,
        avg_session_seconds=(spent * finished + seconds) / count,
    )
    dwell = stored.get(f.DWELL)
    if dwell and dwell[0]:
        view["avg_view_seconds"] = dwell[1]


def _channels(view: dict[str, Any], settings: FeatureSettings, now: datetime) -> None:
    if not settings.channels:
        return
    # Canonical timestamps compare as text in time order.
    since = f.iso(now - timedelta(days=ACTIVE_CHANNEL_DAYS))
    active = 0
    for counts in settings.channels.values():
        for count in counts:
            last = view.get(count_features(count)[2])
            if isinstance(last, str) and last >= since:
                active += 1
                break
    view["active_channels_30d"] = active
