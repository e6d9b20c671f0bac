"""Built-in segmentation stage: behavioural features per subject and segment tags.

Features are updated only from events allowed for ``personalization`` (the
profiling purpose), and a segment is evaluated only when its own purpose is
granted for the event. Behavioural features live under ``features`` in the
subject's profile, apart from anything static. A rule whose review status is
not ``approved`` runs in shadow mode: its changes are reported with
``active=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdp_plugin.markers import hookimpl
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import ConsentView, Decision, Event, SegmentChange

PROFILING_PURPOSE = "personalization"
_CONTEXT_FEATURES = (
    ("last_device_type", ("device", "type")),
    ("last_channel", ("channel",)),
    ("last_locale", ("locale",)),
    ("last_timezone", ("timezone",)),
)


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _amount(properties: Any) -> float | None:
    """The order value of an Order Completed-like event (``revenue``, else ``total``)."""
    for key in ("revenue", "total"):
        value = _dig(properties, (key,))
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def update_features(features: dict[str, Any], event: Event, runtime: Runtime) -> None:
    """Fold one event into the subject's behavioural features (bounded: fixed keys)."""
    stamp = event.timestamp.isoformat()
    features.setdefault("first_seen", stamp)
    if stamp >= features.get("last_seen", ""):
        features["last_seen"] = stamp
        features["last_event_type"] = event.type
        context = event.payload.get("context")
        for name, path in _CONTEXT_FEATURES:
            value = _dig(context, path)
            if isinstance(value, str):
                features[name] = value
    features["event_count"] = features.get("event_count", 0) + 1
    for count, match in runtime.rules.segments.counts.items():
        if match.matches(event.type, event.name):
            features[f"{count}_count"] = features.get(f"{count}_count", 0) + 1
            features[f"last_{count}"] = max(stamp, features.get(f"last_{count}", ""))
            if count == "purchase":
                amount = _amount(event.payload.get("properties"))
                if amount is not None:
                    features["total_spend"] = round(features.get("total_spend", 0.0) + amount, 2)
                    features["average_order_value"] = round(
                        features["total_spend"] / features["purchase_count"], 2)


@hookimpl
def cdp_update_segments(event: Event, decision: Decision, consent: ConsentView,
                        runtime: Runtime) -> list[SegmentChange]:
    """Update features, re-evaluate the segments whose purpose is granted, and
    return the entries and exits."""
    if PROFILING_PURPOSE not in decision.purposes:
        return []
    store = runtime.store
    profile = store.get_profile(event.subject_key) or {}
    features: dict[str, Any] = profile.setdefault("features", {})
    members: dict[str, Any] = profile.setdefault("segments", {})
    update_features(features, event, runtime)
    now = event.timestamp
    changes = []
    for rule in runtime.rules.segments.segments:
        if rule.purpose not in decision.purposes or rule.review_status == "retired":
            continue
        member = rule.condition.evaluate(features, now)
        if member == (rule.name in members):
            continue
        active = rule.review_status == "approved"
        if member:
            members[rule.name] = {"since": now.isoformat(), "active": active}
        else:
            del members[rule.name]
        changes.append(SegmentChange(event.subject_key, rule.name, member, now,
                                     rule.condition.explain(features, now), active))
    store.put_profile(event.subject_key, profile, now)
    return changes
