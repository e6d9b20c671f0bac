"""Built-in segmentation stage: behavioural features per subject and segment tags.

Each allowed event updates its subject's features and segment memberships in
real time (:func:`cdp_plugin.segments.on_event`); the entries and exits come
back with explanations and ``active`` set by the segment's governance (review
status, minimum size). Features are kept only from events whose decision
grants the profiling purpose (``personalization`` by default), and an event
updates only the segments whose purposes its decision grants. Block this
module by name to replace the built-in segmentation.
"""

from __future__ import annotations

from cdp_plugin.markers import hookimpl
from cdp_plugin.runtime import Runtime
from cdp_plugin.segments import on_event
from cdp_plugin.types import ConsentView, Decision, Event, SegmentChange


@hookimpl
def cdp_update_segments(event: Event, decision: Decision, consent: ConsentView,
                        runtime: Runtime) -> list[SegmentChange]:
    """Update features, re-evaluate the segments, and return the entries and exits."""
    return on_event(runtime, event, decision, consent)
