"""The segmentation part of a subject's profile, and nothing else.

A profile (:meth:`cdp_plugin.storage.Store.get_profile`) is one JSON object
shared by the stages. Segmentation reads and writes only these keys:

``features``
    behavioural features kept for the profiling purpose
    (:mod:`cdp_plugin.segments.features`);
``purpose_features``
    ``{purpose: features}`` for counters kept for another purpose (e.g. email
    opens, kept for ``marketing``);
``purposes``
    the purposes the subject was last known to consent to (sorted);
``segments``
    current memberships, ``{segment: {"since": ISO time}}``;
``evaluated_at``
    when memberships were last evaluated; it never goes backwards, so a late
    event cannot re-evaluate a subject as of an earlier time.

Behavioural signals stay apart from static profile attributes: the
``attributes`` key and any other key are never read or changed here. The
subject's preference-center choices (residency, frequency caps) are not in
the profile at all but in the store's preferences
(:meth:`cdp_plugin.storage.Store.get_preferences`), so they outlive a blocked
or replaced segmentation stage.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

FEATURES = "features"
PURPOSE_FEATURES = "purpose_features"
PURPOSES = "purposes"
SEGMENTS = "segments"
EVALUATED_AT = "evaluated_at"


def consented(profile: dict[str, Any]) -> frozenset[str]:
    """The purposes the subject was last known to consent to."""
    return frozenset(profile.get(PURPOSES) or ())


def remember(profile: dict[str, Any], purposes: Iterable[str]) -> None:
    """Record that the subject consents to ``purposes`` (on top of the others)."""
    known = set(profile.get(PURPOSES) or ())
    if not known.issuperset(purposes):
        profile[PURPOSES] = sorted(known.union(purposes))


def forget(profile: dict[str, Any], purpose: str, profiling_purpose: str) -> bool:
    """Delete the state only ``purpose`` justified; True if anything was deleted.

    Without the profiling purpose no behavioural feature may be kept at all;
    without another purpose, the features of the counters kept for it go.
    Memberships are the caller's to end (they need reporting).
    """
    known = [p for p in profile.get(PURPOSES) or () if p != purpose]
    changed = len(known) != len(profile.get(PURPOSES) or ())
    if changed:
        profile[PURPOSES] = known
    if purpose == profiling_purpose:
        for key in (FEATURES, PURPOSE_FEATURES, EVALUATED_AT):
            changed = profile.pop(key, None) is not None or changed
        return changed
    kept = profile.get(PURPOSE_FEATURES) or {}
    if purpose in kept:
        del kept[purpose]
        if not kept:
            profile.pop(PURPOSE_FEATURES, None)
        return True
    return changed


def evaluation_time(profile: dict[str, Any], at: datetime) -> datetime:
    """``at``, or the last evaluation time if that is later."""
    last = profile.get(EVALUATED_AT)
    if isinstance(last, str):
        try:
            previous = datetime.fromisoformat(last)
        except ValueError:
            return at
        if previous > at:
            return previous
    return at
