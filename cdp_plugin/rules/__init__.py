"""The declarative rules under ``rules/``: purposes, jurisdictions, minimization, segments.

Load them once with :func:`load_rules`; the result is an immutable
:class:`RuleSet` whose per-event lookups are precompiled and memoized.
"""

from __future__ import annotations

from cdp_plugin.rules.expressions import (
    CORE_FEATURES,
    CompiledCondition,
    ExpressionError,
    compile_condition,
    feature_names,
)
from cdp_plugin.rules.loader import RULE_FILES, load_rules
from cdp_plugin.rules.model import (
    EventMatch,
    FieldRule,
    FrequencyCap,
    Jurisdiction,
    JurisdictionRules,
    MinimizationRule,
    MinimizationRules,
    Purpose,
    PurposeRules,
    RuleSet,
    SegmentRule,
    SegmentRules,
)

__all__ = [
    "CORE_FEATURES",
    "RULE_FILES",
    "CompiledCondition",
    "EventMatch",
    "ExpressionError",
    "FieldRule",
    "FrequencyCap",
    "Jurisdiction",
    "JurisdictionRules",
    "MinimizationRule",
    "MinimizationRules",
    "Purpose",
    "PurposeRules",
    "RuleSet",
    "SegmentRule",
    "SegmentRules",
    "compile_condition",
    "feature_names",
    "load_rules",
]
