"""The consent section (rates per purpose and jurisdiction) and the re-consent section."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.reporting.common import CONSENT_STATES, _by_count, _ranked, _share

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator


def consent_section(agg: ReportAggregator) -> dict[str, Any]:
    purposes = sorted(agg.purposes_seen)

    def rates(jurisdictions: Iterable[str]) -> dict[str, dict[str, Any]]:
        chosen = list(jurisdictions)
        decisions = sum(agg.jurisdictions[j] for j in chosen)
        table = {}
        for purpose in purposes:
            granted = sum(agg.consent[(j, purpose, "granted")] for j in chosen)
            denied = sum(agg.consent[(j, purpose, "denied")] for j in chosen)
            counts = {"granted": granted, "denied": denied,
                      "unknown": decisions - granted - denied}
            table[purpose] = {**counts, **{f"{state}_share": _share(counts[state], decisions)
                                           for state in CONSENT_STATES}}
        return table

    ranked = [j for j, _ in sorted(agg.jurisdictions.items(), key=_by_count)]
    return {
        "decisions": sum(agg.jurisdictions.values()),
        "purposes": purposes,
        "overall": rates(ranked),
        "by_jurisdiction": {j: {"decisions": agg.jurisdictions[j], "purposes": rates([j])}
                            for j in ranked},
        "purposes_used": {p: agg.purposes_used.get(p, 0) for p in purposes},
        "updates": {
            "records": agg.kinds.get("consent.recorded", 0),
            "by_source": _ranked(agg.consent_sources),
            "changes": [{"purpose": p, "previous": before, "current": after, "count": n}
                        for (p, before, after), n in sorted(agg.consent_changes.items())],
        },
    }


def reconsent_section(agg: ReportAggregator) -> dict[str, Any]:
    records = agg.kinds.get("consent.reconsent_due", 0)
    return {"present": records > 0, "records": records,
            "subjects": len(agg.reconsent_subjects),
            "by_reason": _ranked(agg.reconsent_reasons)}
