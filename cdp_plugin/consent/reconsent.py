"""Finding subjects whose consent must be asked again."""

from __future__ import annotations

from datetime import datetime, timedelta

from cdp_plugin.rules.model import ConsentPolicy
from cdp_plugin.storage.base import Store
from cdp_plugin.types import ReconsentDue


def find_reconsent_due(store: Store, policy: ConsentPolicy, now: datetime) -> list[ReconsentDue]:
    """Subjects with current consent older than ``policy.max_age_days`` at
    ``now`` or given under a superseded notice, ordered by subject key."""
    cutoff = now - timedelta(days=policy.max_age_days)
    found: dict[str, tuple[set[str], set[str]]] = {}
    for subject_key, state in store.stale_consent(cutoff, sorted(policy.superseded_notices)):
        reasons, items = found.setdefault(subject_key, (set(), set()))
        reasons.add("superseded_notice" if state.notice_version in policy.superseded_notices
                    else "expired")
        items.add(f"{state.scope}:{state.name}")
    return [ReconsentDue(key, tuple(sorted(reasons)), tuple(sorted(items)))
            for key, (reasons, items) in sorted(found.items())]
