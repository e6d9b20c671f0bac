"""Planned steps to Segment Spec messages, delivered in time order with breakage and replays.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from cdp_plugin.synthetic.data import (
    _BAD_TIMESTAMPS,
    _CATEGORY_NAMES,
    _EMAIL_LIBRARY,
    _MAIL_AGENTS,
    _MALFORMED_RATE,
    _REPLAY_RATE,
    _SITE,
)
from cdp_plugin.synthetic.model import StreamItem, _iso, _ms, _Planned, _Step
from cdp_plugin.types import ConsentUpdate


def _deliver(planned: Iterator[_Planned], noise: random.Random,
             end: datetime) -> Iterator[StreamItem]:
    """Build messages in time order, breaking a few and scheduling replays of others."""
    replays: list[tuple[datetime, int, _Planned]] = []
    order = itertools.count()  # breaks ties between replays due at the same millisecond
    for entry in planned:
        while replays and replays[0][0] <= entry.at:
            at, _, original = heapq.heappop(replays)
            yield StreamItem(at, _message(original), None)
        if isinstance(entry.item, ConsentUpdate):
            yield StreamItem(entry.at, None, entry.item)
            continue
        event = _message(entry)
        roll = noise.random()
        if roll < _MALFORMED_RATE:
            _break(event, noise)
        elif roll < _MALFORMED_RATE + _REPLAY_RATE:
            # At-least-once delivery: the same message arrives again seconds to hours later.
            again = min(_ms(entry.at + timedelta(seconds=noise.uniform(1, 6 * 3600))),
                        end - timedelta(milliseconds=1))
            heapq.heappush(replays, (max(again, entry.at), next(order), entry))
        yield StreamItem(entry.at, event, None)
    while replays:
        at, _, original = heapq.heappop(replays)
        yield StreamItem(at, _message(original), None)


def _break(event: dict[str, Any], noise: random.Random) -> None:
    """Damage ``event`` the way buggy senders do."""
    kind = noise.randrange(4)
    if kind == 0:
        del event["messageId"]
    elif kind == 1:
        event["timestamp"] = noise.choice(_BAD_TIMESTAMPS)
    elif kind == 2:
        event["type"] = "track"
        event.pop("event", None)
        event.pop("name", None)
    else:  # double-encoded by a client that serialises before sending
        event["properties"] = json.dumps(event.get("properties", {}), ensure_ascii=False)


def _copy(value: Any) -> Any:
    """A deep copy of a JSON-like value, so every built message is independent."""
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _message(entry: _Planned) -> dict[str, Any]:
    """The Segment Spec message for a planned step; a pure function of ``entry``."""
    s, step, at = entry.subject, entry.item, entry.at
    assert isinstance(step, _Step)
    msg: dict[str, Any] = {"type": step.kind, "messageId": entry.message_id}
    identified = s.identified_at is not None and at >= s.identified_at
    if step.kind == "alias":
        msg["previousId"] = s.anonymous_id
    if identified or step.kind in ("alias", "identify"):
        msg["userId"] = s.user_id
    if not step.server:
        msg["anonymousId"] = s.anonymous_id
    if step.kind == "track":
        msg["event"] = step.name
    elif step.name is not None:
        msg["name"] = step.name
    if step.kind == "identify":
        msg["traits"] = _copy(step.body)
    elif step.kind != "alias":
        msg["properties"] = _copy(step.body)
    mobile = s.platform != "web"
    context: dict[str, Any] = {
        "ip": entry.ip, "channel": "server" if step.server else "mobile" if mobile else "browser",
        # The template nests flat objects only, so a two-level copy makes it independent.
        **{key: value.copy() if value.__class__ is dict else value
           for key, value in s.context.items()},
    }
    if step.server:  # the email service reports the open, not the subject's app
        context["userAgent"] = _MAIL_AGENTS[s.platform]
        context["library"] = dict(_EMAIL_LIBRARY)
        context.pop("app", None)
        context.pop("os", None)
    if step.page is not None:
        path, title = step.page
        context["page"] = {"path": path, "url": _SITE + path, "title": title}
    if entry.campaign is not None and not step.server:
        context["campaign"] = dict(entry.campaign)
    if s.in_event_consent and not step.server:
        prefs = s.prefs_at(at)
        context["consent"] = {"categoryPreferences": {_CATEGORY_NAMES[p]: prefs[p]
                                                      for p in _CATEGORY_NAMES}}
    msg["context"] = context
    msg["timestamp"] = _iso(at)
    # Mobile libraries batch and flush every ~30 s; the browser sends within a second.
    delay = int(entry.message_id[-5:], 16) % (30_000 if mobile else 1_500)
    msg["sentAt"] = _iso(at + timedelta(milliseconds=delay))
    return msg
