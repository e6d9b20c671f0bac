"""Planted experiment effects for the demo: who converts after an experiment's send.

:data:`PLANTED` gives, per shipped experiment and arm, the chance that an
exposed subject orders within the experiment's window: the replenishment
timing test has a real lift (evening reminders convert far better than
morning ones, and the holdout shows the orders that come without any
reminder); the subject-line test has none (every arm converts alike, with
the same order values). :func:`conversion_events` turns exposures into the
``Order Completed`` messages those chances imply, from ``random.Random`` seeded
by the demo's seed and the experiment's name, so the same arguments give the
same messages in any process. Shares are planted exactly per arm, so the
demo's verdicts do not hang on which subjects the (keyed, per-installation)
assignment puts where. The messages carry only the marketing consent
category (``Marketing: true``, the consent the send already required) and no
personal data beyond the subject's id.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cdp_plugin.synthetic.model import _iso

PLANTED: Mapping[str, Mapping[str, float]] = {
    "replenishment_timing": {"morning": 0.10, "evening": 0.26, "holdout": 0.05},
    "newsletter_subject_line": {"statement": 0.18, "question": 0.18, "holdout": 0.18},
}
"""The chance an exposed subject converts, per experiment and arm."""

ORDER_VALUE = (15.0, 140.0)
"""The range of a planted order's revenue (uniform), the same in every arm."""


@dataclass(frozen=True, slots=True)
class Exposure:
    """A subject the gate answered for an experiment: its arm and the send's time."""

    subject_id: str
    arm: str
    at: datetime


def conversion_events(seed: int, experiment: str, exposures: Sequence[Exposure],
                      within_days: int) -> Iterator[dict[str, Any]]:
    """The planted ``Order Completed`` messages of ``experiment``'s exposed subjects,
    each within ``within_days`` of its exposure, ordered by exposure.

    Each arm converts exactly its planted share of its exposed subjects (rounded),
    chosen at random, and the k-th conversion of every arm has the same order
    value and delay: the arms differ only by what is planted, whichever
    subjects the keyed hash put in them. An experiment or arm without a planted
    chance converts nobody.
    """
    chances = PLANTED.get(experiment, {})
    by_arm: dict[str, list[int]] = {}
    for index, exposure in enumerate(exposures):
        by_arm.setdefault(exposure.arm, []).append(index)
    converting: dict[int, int] = {}  # exposure index -> its rank among its arm's conversions
    for arm, indexes in sorted(by_arm.items()):
        chosen = random.Random(f"{seed}/{experiment}/{arm}").sample(
            indexes, round(chances.get(arm, 0.0) * len(indexes)))
        converting.update((index, rank) for rank, index in enumerate(sorted(chosen)))
    values = random.Random(f"{seed}/{experiment}/orders")
    orders = [(round(values.uniform(*ORDER_VALUE), 2),
               timedelta(hours=values.uniform(1.0, 24.0 * within_days - 1.0)))
              for _ in range(max(converting.values(), default=-1) + 1)]
    for index in sorted(converting):
        exposure, (revenue, delay) = exposures[index], orders[converting[index]]
        yield {
            "type": "track", "event": "Order Completed",
            "messageId": f"demo-{experiment}-{index:05d}",
            "userId": exposure.subject_id, "timestamp": _iso(exposure.at + delay),
            "context": {"consent": {"categoryPreferences": {"Marketing": True}}},
            "properties": {"order_id": f"ord-{experiment[:4]}-{index:05d}",
                           "revenue": revenue, "currency": "EUR"},
        }
