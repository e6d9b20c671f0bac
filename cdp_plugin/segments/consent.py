"""Consent changes recorded outside events: exits on withdrawal, entries on grant.

``Pipeline.record_consent`` calls ``cdp_apply_consent_change`` for each change
of a purpose's current state, inside the unit of work that records it, and
the segmentation stage answers with :func:`on_consent_changed`, so a
withdrawal takes effect at once and atomically with the ledger entry: the
subject leaves every segment that needs the purpose, and the feature state
only that purpose justified is deleted from the store. (An observer of
``cdp_consent_changed`` could not guarantee that: observers run after the
commit and their failures are only logged.)
"""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.runtime import Runtime
from cdp_plugin.segments.evaluation import evaluate, exit_segments, subject_view
from cdp_plugin.segments.governance import settle
from cdp_plugin.segments.population import cached_cohorts
from cdp_plugin.segments.profile import FEATURES, consented, evaluation_time, forget, remember
from cdp_plugin.segments.realtime import relevant_purposes
from cdp_plugin.types import ConsentChange, ConsentState, SegmentChange


def on_consent_changed(runtime: Runtime, change: ConsentChange,
                       at: datetime) -> list[SegmentChange]:
    """Apply a recorded change of a purpose's state: a denial withdraws, a grant grants."""
    if change.current is ConsentState.DENIED:
        return on_consent_withdrawn(runtime, change.subject_key, change.purpose, at)
    if change.current is ConsentState.GRANTED:
        return on_consent_granted(runtime, change.subject_key, change.purpose, at)
    return []


def on_consent_withdrawn(runtime: Runtime, subject_key: str, purpose: str,
                         at: datetime) -> list[SegmentChange]:
    """The subject withdrew ``purpose``: exit the segments that need it, delete
    the feature state only it justified, and return the exits.

    Withdrawing the profiling purpose deletes every behavioural feature and
    ends every membership. Call it inside a store transaction. Raises
    StorageError if the store fails.
    """
    rules = runtime.rules.segments
    if purpose not in relevant_purposes(rules):
        return []
    store = runtime.store
    profile = store.get_profile(subject_key)
    if profile is None:
        return []
    transitions = exit_segments(profile, rules, purpose, f"consent to {purpose} withdrawn")
    deleted = forget(profile, purpose, rules.features.profiling_purpose)
    if transitions or deleted:
        store.put_profile(subject_key, profile, at)
    return settle(store, rules, subject_key, transitions, at)


def on_consent_granted(runtime: Runtime, subject_key: str, purpose: str,
                       at: datetime) -> list[SegmentChange]:
    """The subject granted ``purpose``: remember it, and enter the segments that
    needed only it and whose conditions already hold. Returns the entries.

    No feature is created: features still come only from events. Call it
    inside a store transaction. Raises StorageError if the store fails.
    """
    rules = runtime.rules.segments
    if purpose not in relevant_purposes(rules):
        return []
    store = runtime.store
    profile = store.get_profile(subject_key) or {}
    if purpose in consented(profile):
        return []
    remember(profile, [purpose])
    transitions = []
    when = evaluation_time(profile, at)
    if FEATURES in profile:
        view = subject_view(profile, rules, when, cached_cohorts(store))
        transitions = evaluate(profile, rules, view, when, only=purpose)
    store.put_profile(subject_key, profile, when)
    return settle(store, rules, subject_key, transitions, when)
