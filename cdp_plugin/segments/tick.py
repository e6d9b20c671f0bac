"""Time-based entries and exits: dormant after N days, replenishment due, cart abandoned.

No event arrives to move a subject into "dormant"; time does. :func:`tick`
re-evaluates every profile as of a given time and applies what changed. A CDP
schedules it (e.g. hourly) through ``Pipeline.tick`` or ``cdp-plugin segments
tick``, which call ``cdp_tick`` (the segmentation stage runs this) inside one
store transaction, audit each change and then notify the
``cdp_segment_changed`` observers.
"""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.runtime import Runtime
from cdp_plugin.segments.evaluation import evaluate, subject_view
from cdp_plugin.segments.features import iso
from cdp_plugin.segments.governance import settle
from cdp_plugin.segments.population import cached_cohorts
from cdp_plugin.segments.profile import EVALUATED_AT, FEATURES, SEGMENTS, evaluation_time
from cdp_plugin.types import SegmentChange


def tick(runtime: Runtime, now: datetime) -> list[SegmentChange]:
    """Re-evaluate every subject's segments as of ``now``; return the entries and exits.

    Only profiles whose memberships change are written. Call it inside a
    store transaction. Raises StorageError if the store fails.
    """
    rules = runtime.rules.segments
    store = runtime.store
    cohorts = cached_cohorts(store)
    changes: list[SegmentChange] = []
    for subject_key, profile in store.iter_profiles():
        if FEATURES not in profile and not profile.get(SEGMENTS):
            continue
        at = evaluation_time(profile, now)
        view = subject_view(profile, rules, at, cohorts)
        transitions = evaluate(profile, rules, view, at)
        if not transitions:
            continue
        profile[EVALUATED_AT] = iso(at)
        store.put_profile(subject_key, profile, at)
        changes += settle(store, rules, subject_key, transitions, at)
    return changes
