"""Population aggregates: the average order value of each currency cohort.

"Spend above the average" compares a subject with everyone who pays in the
same currency (averaging yen with euros would mean nothing). Each cohort is a
running tally of orders and revenue in the store, added to atomically as
orders arrive, so every worker sees the same average. Only orders whose
subject consented to the profiling purpose are counted. The tally holds no
subject's data and stays when a subject withdraws.
"""

from __future__ import annotations

from collections.abc import Callable

from cdp_plugin.segments.features import Order
from cdp_plugin.storage.base import Store

COHORT_PREFIX = "segments.cohort_order_value."


def record_order(store: Store, order: Order) -> None:
    """Count one priced order in its currency's cohort. Raises StorageError on failure."""
    store.add_tally(COHORT_PREFIX + order.currency, 1, order.amount)


def cohort_average(store: Store, currency: str) -> float | None:
    """The average order value of a currency cohort, or None before its first order."""
    tally = store.get_tally(COHORT_PREFIX + currency)
    return round(tally.total / tally.count, 2) if tally.count else None


def cached_cohorts(store: Store) -> Callable[[str], float | None]:
    """:func:`cohort_average` read once per currency: for a pass over many subjects."""
    seen: dict[str, float | None] = {}

    def average(currency: str) -> float | None:
        if currency not in seen:
            seen[currency] = cohort_average(store, currency)
        return seen[currency]

    return average
