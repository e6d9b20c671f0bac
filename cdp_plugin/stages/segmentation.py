"""Built-in segmentation stage: behavioural features per subject and segment tags.

Each allowed event updates its subject's features and segment memberships in
real time (:func:`cdp_plugin.segments.on_event`); the entries and exits come
back with explanations and ``active`` set by the segment's governance (review
status, minimum size). Features are kept only from events whose decision
grants the profiling purpose (``personalization`` by default), and an event
updates only the segments whose purposes its decision grants.

The segment profile is this stage's own: consent changes, the scheduled
tick, access exports and erasures reach it only through the hooks below, so
blocking this module by name (to replace the built-in segmentation) leaves
every profile untouched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdp_plugin.markers import hookimpl
from cdp_plugin.runtime import Runtime
from cdp_plugin.segments import on_consent_changed, on_event, tick
from cdp_plugin.segments.access import erase_profile, export_sections
from cdp_plugin.types import ConsentChange, ConsentView, Decision, Event, SegmentChange


@hookimpl
def cdp_update_segments(event: Event, decision: Decision, consent: ConsentView,
                        runtime: Runtime) -> list[SegmentChange]:
    """Update features, re-evaluate the segments, and return the entries and exits."""
    return on_event(runtime, event, decision, consent)


@hookimpl
def cdp_apply_consent_change(change: ConsentChange, at: datetime,
                             runtime: Runtime) -> list[SegmentChange]:
    """A withdrawal exits the segments that need the purpose and deletes the
    state only it justified; a grant enters segments that already hold."""
    return on_consent_changed(runtime, change, at)


@hookimpl
def cdp_tick(at: datetime, runtime: Runtime) -> list[SegmentChange]:
    """Re-evaluate every profile as of ``at``; return the entries and exits."""
    return tick(runtime, at)


@hookimpl
def cdp_export_subject(subject_key: str, now: datetime, runtime: Runtime) -> dict[str, Any]:
    """The ``segments`` and ``features`` sections of the subject's access export."""
    return export_sections(runtime.store, runtime.rules.segments, subject_key, now)


@hookimpl
def cdp_erase_subject(subject_key: str, runtime: Runtime) -> dict[str, int]:
    """Delete the subject's profile."""
    return erase_profile(runtime.store, subject_key)
