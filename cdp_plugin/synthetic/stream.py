"""The synthetic stream's entry points: generate, write as JSON lines, summarise.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp_plugin.errors import ConfigError
from cdp_plugin.synthetic.campaigns import _campaign_calendar
from cdp_plugin.synthetic.data import DEFAULT_START
from cdp_plugin.synthetic.messages import _deliver
from cdp_plugin.synthetic.model import StreamItem
from cdp_plugin.synthetic.planning import _Planner


def generate_stream(seed: int = 7, subjects: int = 3000, days: int = 30,
                    start: datetime = DEFAULT_START) -> Iterator[StreamItem]:
    """Items in chronological order (by ``at``); the same arguments give the identical stream.

    Subjects are planned up front as light-weight timelines; message dicts are
    built only as they are yielded, and each yielded dict is a fresh object
    the caller may keep or change. Raises :class:`ConfigError` (eagerly, not
    on first iteration) if ``subjects`` or ``days`` is below 1 or ``start``
    has no time zone.
    """
    if subjects < 1 or days < 1:
        raise ConfigError("generate_stream: subjects and days must be at least 1")
    if start.utcoffset() is None:
        raise ConfigError("generate_stream: start must be timezone-aware")
    start = start.astimezone(UTC)
    rng = random.Random(seed)
    noise = random.Random(rng.getrandbits(64))
    campaigns = _campaign_calendar(rng, days)
    timelines = [_Planner(index, random.Random(rng.getrandbits(64)), start, days, campaigns).plan()
                 for index in range(subjects)]
    return _deliver(heapq.merge(*timelines), noise, start + timedelta(days=days))


def write_jsonl(items: Iterable[StreamItem], path: Path) -> int:
    """Write the events of ``items`` to ``path``, one compact JSON object a line; return how many.

    Preference updates are skipped. Raises ``OSError`` if the file cannot be written.
    """
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for item in items:
            if item.event is not None:
                out.write(json.dumps(item.event, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
                count += 1
    return count


def summary(items: Iterable[StreamItem]) -> dict[str, int]:
    """Counts: ``events``, one key per message type, ``with_consent`` (events carrying
    ``context.consent``), ``preference_updates``, ``withdrawals`` (updates denying a purpose
    an earlier update granted), ``malformed`` and ``replays`` (well-formed events whose
    messageId was seen before)."""
    counts = dict.fromkeys(("events", "with_consent", "preference_updates", "withdrawals",
                            "malformed", "replays"), 0)
    seen: set[str] = set()
    granted: set[tuple[str, str]] = set()  # (subject id, purpose) granted by an earlier update
    for item in items:
        update = item.preference
        if update is not None:
            counts["preference_updates"] += 1
            taken_back = {(update.subject_id, p) for p, ok in update.purposes.items() if not ok}
            counts["withdrawals"] += bool(taken_back & granted)
            granted -= taken_back
            granted |= {(update.subject_id, p) for p, ok in update.purposes.items() if ok}
            continue
        event = item.event or {}
        counts["events"] += 1
        kind = event.get("type")
        if isinstance(kind, str):
            counts[kind] = counts.get(kind, 0) + 1
        context = event.get("context")
        counts["with_consent"] += isinstance(context, dict) and "consent" in context
        message_id = event.get("messageId")
        if _malformed(event):
            counts["malformed"] += 1
        elif message_id in seen:
            counts["replays"] += 1
        elif isinstance(message_id, str):
            seen.add(message_id)
    return counts


def _malformed(event: Mapping[str, Any]) -> bool:
    """True for the kinds of breakage this generator injects."""
    stamp = event.get("timestamp")
    try:
        datetime.fromisoformat(stamp if isinstance(stamp, str) and "T" in stamp else "")
    except ValueError:
        return True
    return (not isinstance(event.get("messageId"), str)
            or (event.get("type") == "track" and not isinstance(event.get("event"), str))
            or not isinstance(event.get("properties", {}), dict))
