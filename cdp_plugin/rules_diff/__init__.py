"""Rule dry-runs: what a change of the rules would do, before it reaches anyone.

:func:`diff_rules` replays one events file through the old and the new rules,
each on throwaway storage (:mod:`.replay`), folds the two outcomes of every
message into one section per concern (:mod:`.comparers`: status, destinations
reached, fields sent, segment sizes) and returns a :class:`RulesDiff`, which
:mod:`.rendering` shows as text, JSON or HTML. ``cdp-plugin rules diff`` is
the command.

The result holds no raw identifier and no field value: messages and subjects
appear as pseudonyms under a key made for the replay alone, fields as paths,
so the report can be shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdp_plugin.errors import ConfigError, RuleProblem, RulesError
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.rules.model import RuleSet
from cdp_plugin.rules_diff.comparers import (
    COMPARERS,
    ComparerFactory,
    Finding,
    ReplayStart,
)
from cdp_plugin.rules_diff.replay import EventsFileError, ReplayedEvent, ReplaySettings, replay

__all__ = [
    "DIFF_FORMAT",
    "EventsFileError",
    "ReplaySettings",
    "RulesDiff",
    "diff_rules",
    "load_both",
]

DIFF_FORMAT = 1
"""The version of :meth:`RulesDiff.as_dict`'s structure."""


@dataclass(frozen=True, slots=True)
class RulesDiff:
    """What the new rules would change, one :class:`Finding` per comparer.

    ``lines`` is the number of the last line holding a message, ``messages``
    how many were replayed, ``replayed_until`` the replay clock at the end
    (None if no message had a readable time).
    """

    old_directory: str
    old_version: str
    new_directory: str
    new_version: str
    events_file: str
    lines: int
    messages: int
    replayed_until: datetime | None
    findings: tuple[Finding, ...]

    @property
    def differences(self) -> int:
        """How many changes all sections list together; 0 when nothing would change."""
        return sum(len(finding.changes) for finding in self.findings)

    def as_dict(self) -> dict[str, Any]:
        """The JSON structure (format :data:`DIFF_FORMAT`), documented in README.md."""
        until = self.replayed_until
        return {
            "format": DIFF_FORMAT,
            "old_rules": {"directory": self.old_directory, "version": self.old_version},
            "new_rules": {"directory": self.new_directory, "version": self.new_version},
            "events": {"file": self.events_file, "lines": self.lines,
                       "messages": self.messages,
                       "replayed_until": None if until is None else
                       until.astimezone(UTC).isoformat().replace("+00:00", "Z")},
            "differences": self.differences,
            "sections": [finding.name for finding in self.findings],
            **{finding.name: {"title": finding.title, "description": finding.description,
                              "totals": dict(finding.totals),
                              "changes": [dict(row) for row in finding.changes]}
               for finding in self.findings},
        }


def load_both(old_dir: Path, new_dir: Path) -> tuple[RuleSet, RuleSet]:
    """Both rule sets, or one :class:`RulesError` with every problem of both
    directories (old first), each with file, line and key as ``rules check``
    reports them."""
    loaded: list[RuleSet] = []
    problems: list[RuleProblem] = []
    for directory in (old_dir, new_dir):
        try:
            loaded.append(load_rules(directory))
        except RulesError as error:
            problems.extend(error.problems)
    if problems:
        raise RulesError(problems)
    return loaded[0], loaded[1]


def diff_rules(old_dir: Path, new_dir: Path, events: Path, *,
               settings: ReplaySettings | None = None, now: datetime | None = None,
               comparers: Sequence[ComparerFactory] = COMPARERS) -> RulesDiff:
    """Replay ``events`` through both rule sets and compare (see the module doc).

    Raises :class:`RulesError` (every problem of both directories) if a rules
    directory is invalid, :class:`EventsFileError` if the events file cannot
    be read, :class:`ConfigError` if a rules directory changed while the diff
    ran, ``StorageError`` or ``AuditError`` if the temporary storage fails.
    Differences are not errors.
    """
    old_rules, new_rules = load_both(old_dir, new_dir)
    start = ReplayStart(old_rules, new_rules)
    active = [make(start) for make in comparers]

    def observe(event: ReplayedEvent) -> None:
        for comparer in active:
            comparer.add(event)

    end = replay(old_dir, new_dir, events, observe, settings=settings, now=now)
    for loaded, replayed, directory in ((old_rules, end.old_rules, old_dir),
                                        (new_rules, end.new_rules, new_dir)):
        if loaded.version != replayed.version:
            raise ConfigError(f"rules directory {directory} changed while the diff ran; "
                              "run it again")
    return RulesDiff(str(old_dir), old_rules.version, str(new_dir), new_rules.version,
                     str(events), end.lines, end.messages, end.at,
                     tuple(comparer.finish(end) for comparer in active))

