"""The period's campaign calendar: newsletters and the seasonal sale.
"""

from __future__ import annotations

import random

from cdp_plugin.synthetic.data import _CAMPAIGNS, _SALE
from cdp_plugin.synthetic.model import _Campaign


def _campaign_calendar(rng: random.Random, days: int) -> tuple[_Campaign, ...]:
    """Newsletters every 3-5 days, plus the sale announcement on the sale's first day."""
    calendar: list[_Campaign] = [_Campaign(_sale_window(days)[0], "cmp-sale", *_SALE)]
    day, number = rng.randint(0, 2), 0
    while day < days:
        name, path = _CAMPAIGNS[number % len(_CAMPAIGNS)]
        number += 1
        calendar.append(_Campaign(day, f"cmp-{number:03d}", name, path))
        day += rng.randint(3, 5)
    return tuple(sorted(calendar))


def _sale_window(days: int) -> tuple[int, int]:
    """The seasonal sale: the days (first, last) around 65-85 % into the period."""
    first = int(days * 0.65)
    return first, max(first, int(days * 0.85))
