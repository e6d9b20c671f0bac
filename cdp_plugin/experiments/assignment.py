"""Deterministic assignment: a keyed hash of the subject pseudonym and the
experiment's salt, mapped to a point in [0, 1), picks the arm.

The hash is HMAC-SHA256 under a key derived from the plugin's master key
(:meth:`cdp_plugin.keys.pseudonyms.Pseudonymizer.assignment`), so every
worker and every restart gives a subject the same arm with no state, and no
one without the key can predict or steer an assignment. The first 53 bits
of the digest make the point (a float holds exactly that many), so shares
are exact to about 1e-16. The holdout takes the bottom ``holdout`` of the
interval; the rest is split over the variants by cumulative weight, in file
order.
"""

from __future__ import annotations

from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.rules.model.experiments import HOLDOUT, Experiment

_BITS = 53


def assignment_point(pseudonymizer: Pseudonymizer, salt: str, subject_key: str) -> float:
    """The subject's point in [0, 1) for the experiment salted ``salt``."""
    digest = pseudonymizer.assignment(salt, subject_key)
    return (int.from_bytes(digest[:8], "big") >> (64 - _BITS)) / float(1 << _BITS)


def arm_at(experiment: Experiment, point: float) -> str:
    """The arm (a variant name or ``holdout``) that ``point`` in [0, 1) falls in."""
    if point < experiment.holdout:
        return HOLDOUT
    rest = (point - experiment.holdout) / (1.0 - experiment.holdout)
    total = sum(variant.weight for variant in experiment.variants)
    reached = 0.0
    for variant in experiment.variants:
        reached += variant.weight / total
        if rest < reached:
            return variant.name
    return experiment.variants[-1].name  # rounding left rest at the very top


def assign(pseudonymizer: Pseudonymizer, experiment: Experiment, subject_key: str) -> str:
    """The subject's arm in ``experiment``, the same wherever and whenever asked."""
    return arm_at(experiment, assignment_point(pseudonymizer, experiment.salt, subject_key))
