"""Whether a subject's profile makes it eligible for an experiment.

The experiment gate asks here, so that only segmentation code reads a
profile. An eligibility by segment holds for a current member, whether the
segment is active or in shadow mode (membership already required every
purpose the segment needs); one by condition holds
when the subject consents (as last known) to the profiling purpose and to
the purposes that keep the features the condition reads, and the condition
holds at the time asked about. No eligibility: everyone is eligible.
"""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.rules.expressions import count_features
from cdp_plugin.rules.model import SegmentRules
from cdp_plugin.rules.model.experiments import Eligibility
from cdp_plugin.segments.evaluation import subject_view
from cdp_plugin.segments.population import cached_cohorts
from cdp_plugin.segments.profile import SEGMENTS, consented
from cdp_plugin.storage import Store


def is_eligible(store: Store, rules: SegmentRules, eligibility: Eligibility,
                subject_key: str, at: datetime) -> bool:
    """Whether the subject is eligible at ``at``. Reads only; raises StorageError
    if the store fails."""
    if eligibility.segment is None and eligibility.condition is None:
        return True
    profile = store.get_profile(subject_key) or {}
    if eligibility.segment is not None:
        return eligibility.segment in (profile.get(SEGMENTS) or {})
    condition = eligibility.condition
    assert condition is not None
    needed = {rules.features.profiling_purpose}
    for count in rules.counts:
        if condition.features.intersection(count_features(count)):
            needed.add(rules.purpose_of(count))
    if not needed <= consented(profile):
        return False
    return condition.evaluate(subject_view(profile, rules, at, cached_cohorts(store)), at)
