"""Segment governance: minimum sizes, shadow mode, and size and churn per day.

A segment is activated (its changes carry ``active=True``) only when its
review status is ``approved`` and it has at least ``min_size`` members;
otherwise it runs in shadow mode: computed, stored and reported, not
activated. Small audiences are held back because they are easy to single
people out of; unreviewed rules because a person must have checked them.

Every entry and exit is counted in the store per segment and per UTC day, so
that drift (a segment that suddenly grows, shrinks or churns) shows up in
``cdp-plugin segments stats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cdp_plugin.rules.model import SegmentRule, SegmentRules
from cdp_plugin.segments.evaluation import Transition
from cdp_plugin.storage.base import SegmentDay, Store
from cdp_plugin.types import SegmentChange

APPROVED = "approved"


def activated(rule: SegmentRule, size: int) -> bool:
    """Whether a segment of ``size`` members is activated rather than in shadow mode."""
    return rule.review_status == APPROVED and size >= rule.min_size


def mode(rule: SegmentRule, size: int) -> str:
    """``active``, or why the segment runs in shadow mode."""
    if rule.review_status != APPROVED:
        return f"shadow: review status is {rule.review_status}"
    if size < rule.min_size:
        return f"shadow: {size} of the {rule.min_size} members needed"
    return "active"


def settle(store: Store, rules: SegmentRules, subject_key: str,
           transitions: Sequence[Transition], at: datetime) -> list[SegmentChange]:
    """Count the transitions in the daily statistics and turn them into changes.

    An entry is active if the segment is activated with the subject in it;
    an exit, if it was activated with the subject still in it (so that the
    audience downstream loses the subject). Raises StorageError on failure.
    """
    if not transitions:
        return []
    day = at.astimezone(UTC).date()
    by_name = {rule.name: rule for rule in rules.segments}
    changes = []
    for transition in transitions:
        entered = transition.entered
        size = store.count_segment_change(transition.segment, day, int(entered), int(not entered))
        rule = by_name.get(transition.segment)
        active = rule is not None and activated(rule, size if entered else size + 1)
        changes.append(SegmentChange(subject_key, transition.segment, entered, at,
                                     transition.explanation, active))
    return changes


@dataclass(frozen=True, slots=True)
class DayStats:
    """One day of a segment: entries, exits, size at the end, and the churn rate
    (exits over the size at the start of the day; None when it started empty)."""

    day: date
    size: int
    entered: int
    exited: int
    churn_rate: float | None


@dataclass(frozen=True, slots=True)
class SegmentReport:
    """A segment's governance status and history, for drift review."""

    name: str
    description: str
    owner: str
    purpose: str
    review_status: str
    min_size: int
    size: int
    mode: str
    days: tuple[DayStats, ...]


def report(store: Store, rules: SegmentRules, since: date | None = None) -> list[SegmentReport]:
    """Every segment of the rules, in file order, with its daily statistics from ``since`` on."""
    sizes = store.segment_sizes()
    history: dict[str, list[SegmentDay]] = {}
    for row in store.segment_days(since):
        history.setdefault(row.segment, []).append(row)
    found = []
    for rule in rules.segments:
        size = sizes.get(rule.name, 0)
        days = tuple(_day(row) for row in history.get(rule.name, ()))
        found.append(SegmentReport(rule.name, rule.description, rule.owner, rule.purpose,
                                   rule.review_status, rule.min_size, size, mode(rule, size),
                                   days))
    return found


def _day(row: SegmentDay) -> DayStats:
    started = row.size - row.entered + row.exited
    rate = row.exited / started if started > 0 else None
    return DayStats(row.day, row.size, row.entered, row.exited, rate)
