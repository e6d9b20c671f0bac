"""Records of the plugin's own lifecycle: rule loads and changes, retention sweeps, key
rotation, repairs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cdp_plugin.audit.records.base import AuditRecord


@dataclass(frozen=True, slots=True)
class RulesLoaded(AuditRecord):
    """Proves which rules and plugins a pipeline ran with from this point of the log.

    ``rules_version`` is the rule set's hash, ``files`` each rules file's
    SHA-256 (hex) by name, ``plugins`` the registered plugins in order.
    """

    kind: ClassVar[str] = "rules.loaded"
    rules_version: str
    files: Mapping[str, str]
    plugins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RulesChanged(AuditRecord):
    """Proves the rules a pipeline started with differ from those the store last ran.

    ``previous_version`` and ``rules_version`` are the two rule sets' hashes
    (``RuleSet.version``). ``previous_files`` and ``files`` hold, for each
    rules file whose SHA-256 changed, its digest before and after: a file
    added has no entry in ``previous_files``, a file removed none in
    ``files``. Names and digests only, never a rule's content. Written right
    after the ``rules.loaded`` of the start that noticed the change
    (:mod:`cdp_plugin.rule_changes`).
    """

    kind: ClassVar[str] = "rules.changed"
    previous_version: str
    rules_version: str
    previous_files: Mapping[str, str]
    files: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RetentionSwept(AuditRecord):
    """Proves a retention sweep ran at ``at``, and how much it deleted.

    ``counts`` maps each kind of stored data to how many items went;
    ``cutoffs`` the instant before which that kind was deleted, None for a
    kind without a time to live. Each held event it purged has its own
    ``quarantine.purged`` record.
    """

    kind: ClassVar[str] = "retention.swept"
    at: datetime
    counts: Mapping[str, int]
    cutoffs: Mapping[str, datetime | None]


@dataclass(frozen=True, slots=True)
class KeysRotated(AuditRecord):
    """Proves data keys were re-wrapped under the master key ``master_key`` (its id).

    ``subject`` is the one subject rotated, or None for all; ``subjects``
    how many were rotated.
    """

    kind: ClassVar[str] = "keys.rotated"
    master_key: str
    subject: str | None
    subjects: int


@dataclass(frozen=True, slots=True)
class AuditRepair(AuditRecord):
    """Proves the log was reopened after a crash and cut an interrupted write.

    ``segment`` names the truncated file (a segment or ``checkpoints.log``),
    ``truncated_bytes`` how much was cut; no checkpoint covered those bytes.
    The log writes this record itself.
    """

    kind: ClassVar[str] = "audit.repair"
    truncated_bytes: int
    segment: str
