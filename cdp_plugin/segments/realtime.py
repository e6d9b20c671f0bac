"""Segments in real time: each allowed event updates the features and the tags.

Purpose limitation, per event, by the consent resolved at capture time
(``decision.purposes``): features are folded in only when the decision grants
the profiling purpose, and a counter kept for another purpose only when that
purpose is granted too; a segment is re-evaluated only when the decision
grants every purpose it requires, so an event never updates a segment it may
not serve (a page view, which serves no marketing, leaves marketing segments
to the next event that does, or to the next tick). When the event shows a
purpose the subject relies on as denied (an in-event withdrawal, or a ledger
denial), the subject leaves every segment that needs it and the state it
justified is deleted, before anything else.
"""

from __future__ import annotations

from functools import partial

from cdp_plugin.rules.model import SegmentRules
from cdp_plugin.runtime import Runtime
from cdp_plugin.segments.evaluation import Transition, evaluate, exit_segments, subject_view
from cdp_plugin.segments.features import fold, iso
from cdp_plugin.segments.governance import settle
from cdp_plugin.segments.population import cohort_average, record_order
from cdp_plugin.segments.profile import (
    EVALUATED_AT,
    FEATURES,
    PURPOSE_FEATURES,
    evaluation_time,
    forget,
    remember,
)
from cdp_plugin.types import ConsentState, ConsentView, Decision, Event, SegmentChange

_RELEVANT: dict[int, tuple[SegmentRules, frozenset[str]]] = {}


def relevant_purposes(rules: SegmentRules) -> frozenset[str]:
    """Every purpose segmentation depends on, computed once per loaded rules."""
    cached = _RELEVANT.get(id(rules))
    if cached is None or cached[0] is not rules:
        if len(_RELEVANT) > 16:
            _RELEVANT.clear()
        cached = _RELEVANT[id(rules)] = (rules, rules.purposes)
    return cached[1]


def on_event(runtime: Runtime, event: Event, decision: Decision,
             consent: ConsentView) -> list[SegmentChange]:
    """Fold an allowed event into its subject's features and re-evaluate the segments.

    Returns the entries and exits, with explanations; segment sizes and daily
    statistics are updated in the same store transaction. Raises StorageError
    if the store fails (the pipeline then fails the event closed).
    """
    rules = runtime.rules.segments
    profiling = rules.features.profiling_purpose
    relevant = relevant_purposes(rules)
    served = runtime.rules.purposes.purposes_for(event.type, event.name)
    denied = sorted(p for p in served & relevant if consent.state(p) is ConsentState.DENIED)
    granted = decision.purposes
    if profiling not in granted and not denied:
        return []
    store = runtime.store
    stored = store.get_profile(event.subject_key)
    if stored is None and profiling not in granted:
        return []
    profile = stored if stored is not None else {}
    at = evaluation_time(profile, event.timestamp)
    transitions: list[Transition] = []
    for purpose in denied:
        transitions += exit_segments(profile, rules, purpose, f"consent to {purpose} denied")
        forget(profile, purpose, profiling)
    if profiling in granted:
        remember(profile, granted & relevant)
        kept = profile.setdefault(PURPOSE_FEATURES, {})
        order = fold(profile.setdefault(FEATURES, {}), kept, event, rules, granted)
        if not kept:
            del profile[PURPOSE_FEATURES]
        if order is not None:
            record_order(store, order)
        view = subject_view(profile, rules, at, partial(cohort_average, store))
        transitions += evaluate(profile, rules, view, at, allowed=granted)
        profile[EVALUATED_AT] = iso(at)
    store.put_profile(event.subject_key, profile, at)
    return settle(store, rules, event.subject_key, transitions, at)
