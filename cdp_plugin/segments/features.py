"""Behavioural features, folded in one event at a time, bounded in size.

A subject's features live in its profile (see :mod:`cdp_plugin.segments.profile`)
as plain JSON: the store keeps them, and each event updates them in place. The
state stays bounded however many events arrive, because every part of it is:

* scalars (counts, sums, first and last times, the last device and locale);
* event counts per UTC day for the last :data:`WINDOW_DAYS` days only;
* at most :data:`MAX_CATEGORIES` product categories (the space-saving
  algorithm: a new category replaces the least frequent one and inherits its
  count, so frequent categories are never lost);
* running means and spreads (Welford's algorithm) instead of lists: of the
  days between orders, of session depth and time, of the time spent per view;
* text taken from events cut to :data:`MAX_TEXT` characters.

Late events (older than what was already seen) still count, but never move
"last" values backwards, reopen a closed cart or split a session.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeGuard

from cdp_plugin.events import is_object
from cdp_plugin.rules.expressions import count_features
from cdp_plugin.rules.model import FeatureSettings, SegmentRules
from cdp_plugin.types import Event

WINDOW_DAYS = 90
"""The longest rolling window: daily event counts older than this are dropped."""
MAX_CATEGORIES = 8
MAX_TEXT = 64
MAX_PRODUCTS = 50
"""Products read per event; a longer list is cut (an order rarely has more lines)."""
MAX_QUANTITY = 1000
MAX_VIEW_SECONDS = 86400.0
DAY_SECONDS = 86400
SERVER_CHANNEL = "server"
"""``context.channel`` of messages sent by a server (an email service): they say
nothing about the subject's own device, channel, locale or sessions."""

# Keys of internal state in the features mapping; conditions cannot name them.
DAYS = "activity_days"
CATEGORIES = "category_counts"
INTERVALS = "purchase_intervals"  # [n, mean days, M2, last order epoch seconds]
SESSION = "current_session"  # [start epoch, last epoch, views, seconds viewed]
SESSIONS = "session_stats"  # [finished sessions, mean depth, mean seconds]
DWELL = "view_dwell"  # [views with a reported time, mean seconds]
ORDERS = "orders"
PRICED_ORDERS = "priced_orders"


class Order(NamedTuple):
    """A priced order, for the population's cohort aggregates."""

    currency: str
    amount: float


_LAST_ISO: list[tuple[datetime, str]] = []
"""The last few times formatted: an event's time is formatted two or three times."""


def iso(moment: datetime) -> str:
    """The canonical text of a time in the features: UTC, milliseconds, so that
    two of them compare as text in time order."""
    for known, text in _LAST_ISO:
        # Equal instants format alike; a naive and an aware time are never equal.
        if known == moment and (known.tzinfo is None) == (moment.tzinfo is None):
            return text
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    if len(_LAST_ISO) >= 4:
        del _LAST_ISO[0]
    _LAST_ISO.append((moment, text))
    return text


def fold(features: dict[str, Any], purpose_features: dict[str, dict[str, Any]],
         event: Event, rules: SegmentRules, granted: frozenset[str]) -> Order | None:
    """Fold ``event`` into the features kept for the profiling purpose
    (``features``) and into those of counters kept for another purpose that is
    in ``granted`` (``purpose_features[purpose]``, created as needed).

    The caller has checked that the profiling purpose is granted. Returns the
    priced order the event is, if it is one. Never raises on odd payloads:
    values of the wrong type are ignored.
    """
    settings = rules.features
    moment = event.timestamp
    at = moment.timestamp()
    stamp = iso(moment)
    payload = event.payload
    properties = payload.get("properties")
    if not is_object(properties):
        properties = {}
    _fold_activity(features, event, stamp, at)
    counts = rules.counts_for(event.type, event.name)
    profiling = settings.profiling_purpose
    for count in counts:
        purpose = rules.purpose_of(count)
        if purpose == profiling:
            _bump_count(features, count, stamp)
        elif purpose in granted:
            _bump_count(purpose_features.setdefault(purpose, {}), count, stamp)
    order = None
    if counts:
        if settings.purchase in counts:
            order = _fold_order(features, properties, moment, stamp, settings)
        cart_add = not settings.cart_add.isdisjoint(counts)
        cart_remove = not settings.cart_remove.isdisjoint(counts)
        if cart_add or cart_remove or not settings.cart_activity.isdisjoint(counts):
            _fold_cart(features, properties, stamp, +1 if cart_add else -1 if cart_remove else 0)
        if not settings.categories.isdisjoint(counts):
            _tally_categories(features, _categories(properties))
    if not _from_server(payload):
        view = not settings.views.isdisjoint(counts)
        _fold_session(features, at, view, _view_seconds(properties, settings) if view else None,
                      settings.session_gap_minutes * 60)
    return order


def _fold_activity(features: dict[str, Any], event: Event, stamp: str, at: float) -> None:
    features["event_count"] = features.get("event_count", 0) + 1
    _keep_first(features, "first_seen", stamp)
    if stamp >= features.get("last_seen", ""):
        features["last_seen"] = stamp
        features["last_event_type"] = event.type
        _fold_context(features, event.payload)
    day = int(at // DAY_SECONDS)
    days: dict[str, int] = features.setdefault(DAYS, {})
    newest = max(map(int, days), default=day)
    if day <= newest - WINDOW_DAYS:
        return  # older than the longest window
    key = str(day)
    days[key] = days.get(key, 0) + 1
    if day > newest:
        for stale in [k for k in days if int(k) <= day - WINDOW_DAYS]:
            del days[stale]


def _from_server(payload: Mapping[str, Any]) -> bool:
    context = payload.get("context")
    channel = context.get("channel") if is_object(context) else None
    return (channel or payload.get("channel")) == SERVER_CHANNEL


def _fold_context(features: dict[str, Any], payload: Mapping[str, Any]) -> None:
    context = payload.get("context")
    if not is_object(context) or _from_server(payload):
        return
    channel = _text(context.get("channel")) or _text(payload.get("channel"))
    device = context.get("device")
    values = {
        "last_device_type": _text(device.get("type")) if is_object(device) else None,
        "last_channel": channel,
        "last_locale": _text(context.get("locale")),
        "last_timezone": _text(context.get("timezone")),
    }
    for name, value in values.items():
        if value is not None:
            features[name] = value
    locale = values["last_locale"]
    if locale is not None:
        features["last_language"] = locale.replace("_", "-").split("-", 1)[0].lower()


def _bump_count(features: dict[str, Any], count: str, stamp: str) -> None:
    total, first, last = count_features(count)
    features[total] = features.get(total, 0) + 1
    _keep_first(features, first, stamp)
    if stamp >= features.get(last, ""):
        features[last] = stamp


def _keep_first(features: dict[str, Any], name: str, stamp: str) -> None:
    earliest = features.get(name)
    if earliest is None or stamp < earliest:
        features[name] = stamp


def _fold_order(features: dict[str, Any], properties: Mapping[str, Any], moment: datetime,
                stamp: str, settings: FeatureSettings) -> Order | None:
    features[ORDERS] = features.get(ORDERS, 0) + 1
    categories = list(_categories(properties))
    accessories = [settings.is_accessory(category) for category in categories]
    if any(accessories) and not all(accessories):
        features["accessory_orders"] = features.get("accessory_orders", 0) + 1
    if any(season.contains(moment.month, moment.day) for season in settings.seasons):
        features["season_purchases"] = features.get("season_purchases", 0) + 1
    _fold_interval(features, moment.timestamp())
    if stamp >= features.get("cart_last_activity", ""):
        # The order empties the cart.
        features.update(cart_items=0, cart_value=0.0, cart_last_activity=stamp)
    amount = _amount(properties)
    if amount is None:
        return None
    currency = (_text(properties.get("currency")) or "XXX").upper()[:8]
    features["currency"] = currency
    features["total_spend"] = round(features.get("total_spend", 0.0) + amount, 2)
    features[PRICED_ORDERS] = features.get(PRICED_ORDERS, 0) + 1
    features["average_order_value"] = round(features["total_spend"] / features[PRICED_ORDERS], 2)
    return Order(currency, amount)


def _fold_interval(features: dict[str, Any], at: float) -> None:
    """Welford's running mean and M2 of the days between consecutive orders."""
    count, mean, m2, previous = features.get(INTERVALS) or (0, 0.0, 0.0, None)
    if previous is not None and at <= previous:
        return  # a late order: the gaps are measured between orders in time order
    if previous is not None:
        gap = (at - previous) / DAY_SECONDS
        count += 1
        delta = gap - mean
        mean += delta / count
        m2 += delta * (gap - mean)
    features[INTERVALS] = [count, mean, m2, at]


def _fold_cart(features: dict[str, Any], properties: Mapping[str, Any], stamp: str,
               direction: int) -> None:
    if stamp < features.get("cart_last_activity", ""):
        return  # late: the cart already reflects newer activity
    features["cart_last_activity"] = stamp
    if direction == 0:
        return
    quantity = properties.get("quantity", 1)
    if not _is_number(quantity) or not 0 < quantity <= MAX_QUANTITY:
        quantity = 1
    price = properties.get("price")
    value = float(price) * quantity if _is_number(price) and price >= 0 else 0.0
    items = max(0, int(features.get("cart_items", 0) + direction * quantity))
    total = max(0.0, features.get("cart_value", 0.0) + direction * value)
    features["cart_items"] = items
    features["cart_value"] = round(total, 2) if items else 0.0


def _tally_categories(features: dict[str, Any], categories: Iterator[str]) -> None:
    table: dict[str, int] = features.setdefault(CATEGORIES, {})
    for category in categories:
        features["category_total"] = features.get("category_total", 0) + 1
        if category in table:
            table[category] += 1
        elif len(table) < MAX_CATEGORIES:
            table[category] = 1
        else:
            rarest = min(table, key=lambda name: (table[name], name))
            table[category] = table.pop(rarest) + 1


def _categories(properties: Mapping[str, Any]) -> Iterator[str]:
    """The product categories of a product event or of an order's product lines."""
    own = _text(properties.get("category"))
    if own is not None:
        yield own
    products = properties.get("products")
    if isinstance(products, list):
        for product in products[:MAX_PRODUCTS]:
            category = _text(product.get("category")) if isinstance(product, Mapping) else None
            if category is not None:
                yield category


def _fold_session(features: dict[str, Any], at: float, view: bool, seconds: float | None,
                  gap: float) -> None:
    if view:
        features["view_count"] = features.get("view_count", 0) + 1
    session = features.get(SESSION)
    if session is None or at > session[1] + gap:
        if session is not None:
            count, depth, spent = features.get(SESSIONS) or (0, 0.0, 0.0)
            count += 1
            depth += (session[2] - depth) / count
            spent += (session_seconds(session) - spent) / count
            features[SESSIONS] = [count, depth, spent]
        session = [at, at, 0, 0.0]
        features[SESSION] = session
    elif at < session[0] - gap:
        return  # late, from a session already folded into the statistics
    else:
        session[0], session[1] = min(session[0], at), max(session[1], at)
    if not view:
        return
    session[2] += 1
    if seconds is not None:
        session[3] += seconds
        count, mean = features.get(DWELL) or (0, 0.0)
        count += 1
        features[DWELL] = [count, mean + (seconds - mean) / count]


def session_seconds(session: list[Any]) -> float:
    """A session's length: the time its views report, else from first to last event."""
    reported: float = session[3]
    return reported if reported > 0 else float(session[1] - session[0])


def _view_seconds(properties: Mapping[str, Any], settings: FeatureSettings) -> float | None:
    for name in settings.view_seconds:
        value = properties.get(name)
        if _is_number(value) and value >= 0:
            return min(float(value), MAX_VIEW_SECONDS)
    return None


def _amount(properties: Mapping[str, Any]) -> float | None:
    """The order value of an Order Completed-like event (``revenue``, else ``total``)."""
    for key in ("revenue", "total"):
        value = properties.get(key)
        if _is_number(value) and value >= 0:
            return float(value)
    return None


def _is_number(value: Any) -> TypeGuard[int | float]:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _text(value: Any) -> str | None:
    """A non-empty string from an event, cut to :data:`MAX_TEXT` characters; else None."""
    if isinstance(value, str) and value:
        return value[:MAX_TEXT]
    return None
