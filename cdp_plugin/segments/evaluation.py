"""Segment memberships: evaluate the rules over a subject's features and record transitions.

A subject is in a segment when it consented to every purpose the segment
``requires`` (the profiling purpose, the segment's own, and those that keep
the features it reads) and the segment's condition holds. Retired segments,
and segments no longer in the rules, have no members. Every entry and exit
carries an explanation: on entry the clauses that held, on exit the clauses
that failed (or the consent or rule that is missing), with the feature values
involved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from cdp_plugin.rules.model import SegmentRule, SegmentRules
from cdp_plugin.segments.features import iso
from cdp_plugin.segments.profile import FEATURES, SEGMENTS, consented
from cdp_plugin.segments.view import feature_view

RETIRED = "retired"
COHORT_FEATURE = "cohort_average_order_value"

Cohorts = Callable[[str], float | None]


class Transition(NamedTuple):
    """A subject entered (``entered``) or left a segment, and why."""

    segment: str
    entered: bool
    explanation: tuple[str, ...]


def subject_view(profile: Mapping[str, Any], rules: SegmentRules, now: datetime,
                 cohorts: Cohorts) -> dict[str, Any]:
    """The subject's features at ``now``, with its currency cohort's average if a rule reads it."""
    currency = (profile.get(FEATURES) or {}).get("currency")
    cohort = None
    if isinstance(currency, str) and _reads_cohort(rules):
        cohort = cohorts(currency)
    return feature_view(profile, now, rules.features, cohort)


_READS_COHORT: dict[int, tuple[SegmentRules, bool]] = {}


def _reads_cohort(rules: SegmentRules) -> bool:
    """Whether a rule reads the cohort average (so it is worth a store read), once per rules."""
    cached = _READS_COHORT.get(id(rules))
    if cached is None or cached[0] is not rules:
        if len(_READS_COHORT) > 16:
            _READS_COHORT.clear()
        reads = any(COHORT_FEATURE in rule.condition.features for rule in rules.segments)
        cached = _READS_COHORT[id(rules)] = (rules, reads)
    return cached[1]


def evaluate(profile: dict[str, Any], rules: SegmentRules, view: Mapping[str, Any],
             now: datetime, only: str | None = None,
             allowed: frozenset[str] | None = None) -> list[Transition]:
    """Bring the profile's memberships up to date at ``now``; return the transitions.

    With ``only``, just the segments that require that purpose are evaluated
    (a consent was granted: nothing else changed). With ``allowed`` (the
    purposes an event's decision grants), just the segments whose required
    purposes are all allowed: an event is used only for segments it may serve.
    """
    members: dict[str, Any] = profile.setdefault(SEGMENTS, {})
    purposes = consented(profile)
    transitions = []
    for rule in rules.segments:
        if only is not None and only not in rule.requires:
            continue
        if allowed is not None and not rule.requires <= allowed:
            continue
        # The common case, inline: this loop runs for every rule on every event.
        member = (rule.review_status != RETIRED and rule.requires <= purposes
                  and rule.condition.evaluate(view, now))
        if member == (rule.name in members):
            continue
        if member:
            members[rule.name] = {"since": iso(now)}
            transitions.append(Transition(rule.name, True, _clauses(rule, view, now, "held")))
        else:
            del members[rule.name]
            _, reasons = _verdict(rule, purposes, view, now)
            why = reasons or _clauses(rule, view, now, "failed")
            transitions.append(Transition(rule.name, False, why))
    if only is None:
        defined = {rule.name for rule in rules.segments}
        for name in [name for name in members if name not in defined]:
            del members[name]
            transitions.append(Transition(name, False, ("the segment is no longer defined",)))
    return transitions


def exit_segments(profile: dict[str, Any], rules: SegmentRules, purpose: str,
                  reason: str) -> list[Transition]:
    """End every membership that needs ``purpose`` (all of them for the profiling purpose)."""
    members: dict[str, Any] = profile.get(SEGMENTS) or {}
    needing = {rule.name for rule in rules.segments if purpose in rule.requires}
    everything = purpose == rules.features.profiling_purpose
    transitions = []
    for name in list(members):
        if everything or name in needing:
            del members[name]
            transitions.append(Transition(name, False, (reason,)))
    return transitions


def _verdict(rule: SegmentRule, purposes: frozenset[str], view: Mapping[str, Any],
             now: datetime) -> tuple[bool, tuple[str, ...]]:
    if rule.review_status == RETIRED:
        return False, ("the segment is retired",)
    missing = rule.requires - purposes
    if missing:
        return False, tuple(f"no consent to {purpose}" for purpose in sorted(missing))
    return rule.condition.evaluate(view, now), ()


def _clauses(rule: SegmentRule, view: Mapping[str, Any], now: datetime,
             verdict: str) -> tuple[str, ...]:
    """The explanation lines with the given verdict (all lines if none has it)."""
    lines = rule.condition.explain(view, now)
    chosen = tuple(line for line in lines if f": {verdict}" in line)
    return chosen or lines


@dataclass(frozen=True, slots=True)
class Membership:
    """Where a subject stands with one segment, for people reviewing it.

    ``missing_purposes`` are the consents it lacks; ``explanation`` has one
    line per top-level clause of the condition, as evaluated now.
    """

    segment: str
    member: bool
    since: str | None
    holds_now: bool
    missing_purposes: tuple[str, ...]
    explanation: tuple[str, ...]


def explain(profile: Mapping[str, Any], rules: SegmentRules, view: Mapping[str, Any],
            now: datetime) -> list[Membership]:
    """Every segment, with the subject's stored membership and why it holds or not now."""
    members: Mapping[str, Any] = profile.get(SEGMENTS) or {}
    purposes = consented(dict(profile))
    found = []
    for rule in rules.segments:
        holds, _ = _verdict(rule, purposes, view, now)
        stored = members.get(rule.name)
        since = stored.get("since") if isinstance(stored, Mapping) else None
        found.append(Membership(rule.name, stored is not None, since, holds,
                                tuple(sorted(rule.requires - purposes)),
                                rule.condition.explain(view, now)))
    return found
