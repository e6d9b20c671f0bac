"""The comparers: one per concern a rule change can affect, each folding the
replayed events into one section of the report.

A comparer is built from the :class:`ReplayStart` (both rule sets), sees
every :class:`~cdp_plugin.rules_diff.replay.ReplayedEvent` in file order
(``add``), and at the end (``finish``) returns a :class:`Finding`: a list of
changes, each a JSON-ready mapping whose keys the section documents, and
the columns that show them as a table. A comparer holds counts and a few
example pseudonyms per change, never an event.

:data:`COMPARERS` lists them in report order. To compare a further concern,
write a class with ``name``, ``add`` and ``finish`` and add it there;
rendering needs no change.

Nothing a comparer reports holds a raw identifier or a value: messages and
subjects appear as pseudonyms under the replay's own key, fields as paths.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cdp_plugin.rules.model import RuleSet
from cdp_plugin.rules_diff.fields import ABSENT, DROP, field_view, state_of
from cdp_plugin.rules_diff.replay import ReplayedEvent, ReplayEnd
from cdp_plugin.types import Outcome, SegmentChange

EXAMPLES = 3
"""Example messages kept per change."""

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ReplayStart:
    """What a comparer may know before the first event: the two rule sets."""

    old_rules: RuleSet
    new_rules: RuleSet


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a finding's table: its heading, the change key it shows, and
    whether it is a number (right-aligned)."""

    heading: str
    key: str
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    """One comparer's section of the report.

    ``changes`` are JSON-ready mappings, sorted (most events first, then by
    name), and empty when the concern did not change. ``totals`` are the
    section's headline numbers. ``columns`` say how to show ``changes`` as a
    table; a column whose key holds a mapping shows it as ``name n, ...``.
    """

    name: str
    title: str
    description: str
    changes: tuple[Row, ...]
    totals: Mapping[str, int]
    columns: tuple[Column, ...]


class Comparer(Protocol):
    """Folds the replayed events into one :class:`Finding`."""

    name: str

    def add(self, event: ReplayedEvent) -> None:
        """See one message's two outcomes (in file order)."""

    def finish(self, end: ReplayEnd) -> Finding:
        """The section, once every message was seen."""


@dataclass(slots=True)
class _Examples:
    """Counts of one change and its first few example messages."""

    events: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, event: ReplayedEvent) -> None:
        self.events += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append({"message": event.message, "line": event.line})


def _sorted(rows: Iterable[dict[str, Any]], *names: str) -> tuple[Row, ...]:
    return tuple(sorted(rows, key=lambda row: (-row.get("events", 0),
                                               *(str(row[name]) for name in names))))


class StatusComparer:
    """Messages whose status or reasons differ, grouped by (old status, new
    status, old reasons, new reasons).

    Change keys: ``old_status``, ``new_status`` (``forwarded``, ``dropped``,
    ``quarantined``, ``invalid``, ``duplicate``), ``old_reasons``,
    ``new_reasons`` (reason codes), ``events``, ``examples`` (up to
    :data:`EXAMPLES` ``{"message": pseudonym, "line": n}``).
    """

    name = "status"

    def __init__(self, start: ReplayStart) -> None:
        self._groups: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], _Examples] = {}

    def add(self, event: ReplayedEvent) -> None:
        old, new = event.old, event.new
        if old.status is new.status and old.reasons == new.reasons:
            return
        key = (old.status.value, new.status.value, old.reasons, new.reasons)
        self._groups.setdefault(key, _Examples()).add(event)

    def finish(self, end: ReplayEnd) -> Finding:
        rows = [{"old_status": old, "new_status": new, "old_reasons": list(before),
                 "new_reasons": list(after), "events": group.events,
                 "examples": group.examples}
                for (old, new, before, after), group in self._groups.items()]
        return Finding(
            self.name, "Status changes",
            "Messages the new rules decide differently (status or reasons).",
            _sorted(rows, "old_status", "new_status", "old_reasons", "new_reasons"),
            {"events": sum(group.events for group in self._groups.values())},
            (Column("old status", "old_status"), Column("new status", "new_status"),
             Column("old reasons", "old_reasons"), Column("new reasons", "new_reasons"),
             Column("events", "events", True), Column("examples", "examples")))


def _destinations(outcome: Outcome) -> frozenset[str]:
    return outcome.destinations if outcome.forwarded else frozenset()


class DestinationsComparer:
    """Destinations that would receive a message they did not before, or no
    longer receive one (from a status change or from changed purposes).

    Change keys: ``destination``, ``change`` (``now_sent``, ``no_longer_sent``),
    ``events``, ``examples``.
    """

    name = "destinations"

    def __init__(self, start: ReplayStart) -> None:
        self._groups: dict[tuple[str, str], _Examples] = {}
        self._events = 0

    def add(self, event: ReplayedEvent) -> None:
        before, after = _destinations(event.old), _destinations(event.new)
        self._events += before != after
        for destination in after - before:
            self._groups.setdefault((destination, "now_sent"), _Examples()).add(event)
        for destination in before - after:
            self._groups.setdefault((destination, "no_longer_sent"), _Examples()).add(event)

    def finish(self, end: ReplayEnd) -> Finding:
        rows = [{"destination": destination, "change": change, "events": group.events,
                 "examples": group.examples}
                for (destination, change), group in self._groups.items()]
        return Finding(
            self.name, "Destinations reached",
            "Messages a destination would newly receive, or no longer receive.",
            _sorted(rows, "destination", "change"), {"events": self._events},
            (Column("destination", "destination"), Column("change", "change"),
             Column("events", "events", True), Column("examples", "examples")))


@dataclass(slots=True)
class _FieldChange:
    examples: _Examples = field(default_factory=_Examples)
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    purposes: set[str] = field(default_factory=set)


class FieldsComparer:
    """Fields a destination would newly receive, no longer receive, or receive
    under another action, for messages both rule sets forward to it.

    Change keys: ``destination``, ``field`` (dotted path, ``*`` for list
    items), ``change`` (``now_sent``, ``no_longer_sent``, ``action_changed``),
    ``before`` and ``after`` (action → messages: ``keep``, ``hash``,
    ``truncate``, ``generalize``, ``encrypt``, ``redact`` (kept, with personal
    data found in it redacted), ``drop``, or ``absent`` when the message did
    not name it), ``purposes`` (the destination's purposes the new rules
    forwarded these messages for), ``events``, ``examples``. Messages that
    reach a destination under one rule set only are counted by
    :class:`DestinationsComparer`, not here.
    """

    name = "fields"

    def __init__(self, start: ReplayStart) -> None:
        self._served = start.new_rules.purposes.destinations
        self._groups: dict[tuple[str, str, str], _FieldChange] = {}
        self._events = 0

    def add(self, event: ReplayedEvent) -> None:
        old, new = event.old, event.new
        if old.forwarded and new.forwarded:
            self._events += self._compare(event, old, new)

    def _compare(self, event: ReplayedEvent, old: Outcome, new: Outcome) -> bool:
        """Count the event's field changes; whether it had any."""
        changed = False
        for destination in sorted(old.destinations & new.destinations):
            before, after = field_view(old, destination), field_view(new, destination)
            if before == after:
                continue
            for path in sorted(set(before) | set(after)):
                was, now = state_of(before, path), state_of(after, path)
                if was == now:
                    continue
                sent_before, sent_after = was not in (DROP, ABSENT), now not in (DROP, ABSENT)
                if not (sent_before or sent_after):
                    continue
                change = ("action_changed" if sent_before and sent_after
                          else "now_sent" if sent_after else "no_longer_sent")
                group = self._groups.setdefault((destination, path, change), _FieldChange())
                changed = True
                group.examples.add(event)
                group.before[was] += 1
                group.after[now] += 1
                group.purposes |= new.purposes & self._served.get(destination, frozenset())
        return changed

    def finish(self, end: ReplayEnd) -> Finding:
        rows = [{"destination": destination, "field": path, "change": change,
                 "before": dict(sorted(group.before.items())),
                 "after": dict(sorted(group.after.items())),
                 "purposes": sorted(group.purposes), "events": group.examples.events,
                 "examples": group.examples.examples}
                for (destination, path, change), group in self._groups.items()]
        return Finding(
            self.name, "Fields sent",
            "Per destination, fields newly sent, no longer sent, or sent under another "
            "action, for messages both rule sets forward there.",
            _sorted(rows, "destination", "field", "change"), {"events": self._events},
            (Column("destination", "destination"), Column("field", "field"),
             Column("change", "change"), Column("before", "before"), Column("after", "after"),
             Column("events", "events", True), Column("examples", "examples")))


def _members(changes: Iterable[SegmentChange], into: dict[str, set[str]],
             moves: Counter[tuple[str, bool]]) -> None:
    for change in changes:
        members = into.setdefault(change.segment, set())
        if change.entered:
            members.add(change.subject_key)
        else:
            members.discard(change.subject_key)
        moves[(change.segment, change.entered)] += 1


class SegmentsComparer:
    """Per segment, its members at the end of the replay under each rule set.

    Change keys: ``segment``, ``old_size``, ``new_size``, ``joined``
    (subjects in it only under the new rules), ``left`` (only under the old
    rules), ``old_entered``, ``old_exited``, ``new_entered``, ``new_exited``
    (entries and exits during the replay, the final tick included). Listed
    only for segments where any of these differ. Subjects are compared by
    their pseudonyms, which both sides share.
    """

    name = "segments"

    def __init__(self, start: ReplayStart) -> None:
        self._old: dict[str, set[str]] = {}
        self._new: dict[str, set[str]] = {}
        self._old_moves: Counter[tuple[str, bool]] = Counter()
        self._new_moves: Counter[tuple[str, bool]] = Counter()

    def add(self, event: ReplayedEvent) -> None:
        _members(event.old.segment_changes, self._old, self._old_moves)
        _members(event.new.segment_changes, self._new, self._new_moves)

    def sizes(self) -> tuple[dict[str, int], dict[str, int]]:
        """Each segment's size so far under the old and the new rules."""
        return ({name: len(m) for name, m in self._old.items()},
                {name: len(m) for name, m in self._new.items()})

    def finish(self, end: ReplayEnd) -> Finding:
        _members(end.old_ticked, self._old, self._old_moves)
        _members(end.new_ticked, self._new, self._new_moves)
        rows: list[dict[str, Any]] = []
        for name in sorted(set(self._old) | set(self._new)):
            old, new = self._old.get(name, set()), self._new.get(name, set())
            row: dict[str, Any] = {"segment": name, "old_size": len(old), "new_size": len(new),
                   "joined": len(new - old), "left": len(old - new),
                   "old_entered": self._old_moves[(name, True)],
                   "old_exited": self._old_moves[(name, False)],
                   "new_entered": self._new_moves[(name, True)],
                   "new_exited": self._new_moves[(name, False)]}
            if (row["joined"] or row["left"] or row["old_entered"] != row["new_entered"]
                    or row["old_exited"] != row["new_exited"]):
                rows.append(row)
        rows.sort(key=lambda row: (-abs(row["new_size"] - row["old_size"]), row["segment"]))
        return Finding(
            self.name, "Segment sizes",
            "Per segment, members at the end of the replay, and entries and exits during it.",
            tuple(rows), {"segments": len(rows)},
            (Column("segment", "segment"), Column("old size", "old_size", True),
             Column("new size", "new_size", True), Column("joined", "joined", True),
             Column("left", "left", True), Column("old entered", "old_entered", True),
             Column("old exited", "old_exited", True),
             Column("new entered", "new_entered", True),
             Column("new exited", "new_exited", True)))


class ExperimentsComparer:
    """Experiment eligibility: per experiment of either rule set, the subjects its
    eligibility (a segment, a condition, or none) admits at the end of the replay,
    among the subjects with a profile, under each rule set; an experiment only
    one side defines is ``added`` or ``removed``. Whether a subject is then
    assigned also depends on its consent to the experiment's purpose and on
    the experiment running when it is asked about (see ``may_contact``).
    """

    name = "experiments"

    def __init__(self, start: ReplayStart) -> None:
        self._old = {e.name for e in start.old_rules.experiments.experiments}
        self._new = {e.name for e in start.new_rules.experiments.experiments}

    def add(self, event: ReplayedEvent) -> None:
        """Eligibility is judged on the final state; events add nothing here."""

    def finish(self, end: ReplayEnd) -> Finding:
        rows: list[dict[str, Any]] = []
        for name in sorted(self._old | self._new):
            old = end.old_eligible.get(name, frozenset())
            new = end.new_eligible.get(name, frozenset())
            change = ("added" if name not in self._old else
                      "removed" if name not in self._new else "eligibility")
            row: dict[str, Any] = {"experiment": name, "change": change,
                                   "old_eligible": len(old), "new_eligible": len(new),
                                   "joined": len(new - old), "left": len(old - new)}
            if change != "eligibility" or row["joined"] or row["left"]:
                rows.append(row)
        return Finding(
            self.name, "Experiment eligibility",
            "Per experiment, subjects its eligibility admits at the end of the replay.",
            tuple(rows), {"experiments": len(rows)},
            (Column("experiment", "experiment"), Column("change", "change"),
             Column("old eligible", "old_eligible", True),
             Column("new eligible", "new_eligible", True), Column("joined", "joined", True),
             Column("left", "left", True)))


ComparerFactory = Callable[[ReplayStart], Comparer]

COMPARERS: Sequence[ComparerFactory] = (
    StatusComparer, DestinationsComparer, FieldsComparer, SegmentsComparer,
    ExperimentsComparer,
)
"""The comparers of a diff, in report order. The extension point: a comparer for a
further concern is added here."""
