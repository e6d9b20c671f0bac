"""What segmentation holds about one subject: explained, exported, erased.

These are the only ways outside the segment engine to see or remove a
subject's profile; the built-in segmentation stage offers the export and the
erasure to the host through ``cdp_export_subject`` and ``cdp_erase_subject``,
and ``cdp-plugin segments explain`` prints :func:`explain_subject`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdp_plugin.rules.model import SegmentRules
from cdp_plugin.segments.evaluation import Membership, explain, subject_view
from cdp_plugin.segments.population import cached_cohorts
from cdp_plugin.segments.profile import FEATURES, PURPOSE_FEATURES, evaluation_time
from cdp_plugin.storage.base import Store


def explain_subject(store: Store, rules: SegmentRules, subject_key: str,
                    at: datetime) -> tuple[datetime, list[Membership]]:
    """Every segment for the subject, member or not, with the clauses that hold,
    as of ``at`` (or of the last evaluation, if later); returns that time too.

    Reads only. Raises StorageError if the store fails.
    """
    profile = store.get_profile(subject_key) or {}
    when = evaluation_time(profile, at)
    view = subject_view(profile, rules, when, cached_cohorts(store))
    return when, explain(profile, rules, view, when)


def export_sections(store: Store, rules: SegmentRules, subject_key: str,
                    now: datetime) -> dict[str, Any]:
    """The ``segments`` (current memberships, with the clauses that hold ``now``)
    and ``features`` sections of an access export, JSON-ready.

    Reads only. Raises StorageError if the store fails.
    """
    profile = store.get_profile(subject_key) or {}
    view = subject_view(profile, rules, now, cached_cohorts(store))
    segments = [{"segment": m.segment, "since": m.since, "holds_now": m.holds_now,
                 "missing_purposes": list(m.missing_purposes),
                 "explanation": list(m.explanation)}
                for m in explain(profile, rules, view, now) if m.member]
    return {"segments": segments,
            "features": {"profiling": profile.get(FEATURES) or {},
                         "by_purpose": profile.get(PURPOSE_FEATURES) or {}}}


def erase_profile(store: Store, subject_key: str) -> dict[str, int]:
    """Delete the subject's profile; returns ``{"profile": 0 or 1}``.

    Memberships are not settled here: an erasure first withdraws every
    purpose, which exits every segment (and counts the exits). Call it inside
    a store transaction. Raises StorageError if the store fails.
    """
    return {"profile": int(store.delete_profile(subject_key))}
