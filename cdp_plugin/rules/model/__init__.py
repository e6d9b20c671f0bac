"""The loaded rules: frozen values built once from the files under ``rules/``.

Everything here is immutable and already validated, so the per-event code that
reads it never re-checks the files. Lookups that run for every event
(:meth:`PurposeRules.purposes_for`, :meth:`MinimizationRules.matching`,
:meth:`SegmentRules.counts_for`) are memoized per ``(event type, name)`` in a
bounded least-recently-used cache, because event names are chosen by senders and
their number is unbounded.

One module per rules file (:mod:`.purposes`, :mod:`.jurisdictions`,
:mod:`.minimization`, :mod:`.segments`, :mod:`.experiments`), the pieces they share in
:mod:`.common`, and here the :class:`RuleSet` that holds them all. Every name
is re-exported here, so callers import from the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cdp_plugin.rules.model.common import MEMO_SIZE, EventMatch
from cdp_plugin.rules.model.experiments import ExperimentRules
from cdp_plugin.rules.model.jurisdictions import CONSENT_MODELS, Jurisdiction, JurisdictionRules
from cdp_plugin.rules.model.minimization import (
    ACTION_PARAMETERS,
    GENERALIZE_TARGETS,
    PERMISSIVENESS,
    Choice,
    FieldRule,
    IntList,
    IntRange,
    MinimizationRule,
    MinimizationRules,
    ParamSpec,
    ParamValue,
)
from cdp_plugin.rules.model.purposes import (
    LEGAL_BASES,
    MERGE_POLICIES,
    ConsentPolicy,
    FrequencyCap,
    Purpose,
    PurposeRules,
    QuietHours,
    time_zone,
)
from cdp_plugin.rules.model.segments import (
    DEFAULT_PROFILING_PURPOSE,
    REVIEW_STATUSES,
    FeatureSettings,
    Season,
    SegmentRule,
    SegmentRules,
)

if TYPE_CHECKING:
    from cdp_plugin.rules.retention import RetentionRules

__all__ = [
    "ACTION_PARAMETERS",
    "CONSENT_MODELS",
    "DEFAULT_PROFILING_PURPOSE",
    "GENERALIZE_TARGETS",
    "LEGAL_BASES",
    "MEMO_SIZE",
    "MERGE_POLICIES",
    "PERMISSIVENESS",
    "REVIEW_STATUSES",
    "Choice",
    "ConsentPolicy",
    "EventMatch",
    "ExperimentRules",
    "FeatureSettings",
    "FieldRule",
    "FrequencyCap",
    "IntList",
    "IntRange",
    "Jurisdiction",
    "JurisdictionRules",
    "MinimizationRule",
    "MinimizationRules",
    "ParamSpec",
    "ParamValue",
    "Purpose",
    "PurposeRules",
    "QuietHours",
    "RuleSet",
    "Season",
    "SegmentRule",
    "SegmentRules",
    "time_zone",
]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rules file, loaded and cross-checked together.

    ``file_hashes`` maps each file name to the SHA-256 of its bytes; ``version``
    identifies the whole set (see :func:`cdp_plugin.rules.loader.load_rules`).
    """

    purposes: PurposeRules
    jurisdictions: JurisdictionRules
    minimization: MinimizationRules
    segments: SegmentRules
    directory: str
    file_hashes: Mapping[str, str]
    version: str
    retention: RetentionRules
    experiments: ExperimentRules = field(default_factory=ExperimentRules)
