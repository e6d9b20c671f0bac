"""Synthetic subjects: a persona, a platform, a location and fake personal data each.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import datetime, timedelta
from typing import Any

from cdp_plugin.synthetic.data import (
    _CATEGORIES,
    _DIAL,
    _FIRST,
    _GRANT_ODDS,
    _IN_EVENT_CONSENT,
    _LAST,
    _LOCATIONS,
    _MONEY,
    _PERSONAS,
    _PLATFORMS,
)
from cdp_plugin.synthetic.model import _iso, _Subject


def _fake_ip(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{net}.{rng.randint(1, 254)}"


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "")


def _make_subject(index: int, rng: random.Random, start: datetime) -> _Subject:
    persona = rng.choices(tuple(_PERSONAS), tuple(_PERSONAS.values()))[0]
    platform = rng.choices(("ios", "android", "web"), (28, 22, 50))[0]
    country, region, locale, zone, offset, city, _ = rng.choices(
        _LOCATIONS, [row[6] for row in _LOCATIONS])[0]
    user_agent, library = rng.choice(_PLATFORMS[platform][0]), _PLATFORMS[platform][1]
    context: dict[str, Any] = {"userAgent": user_agent, "locale": locale, "timezone": zone,
                               "library": dict(library), "device": {"type": platform},
                               "location": {"country": country}}
    if country == "US" or rng.random() < 0.5:
        context["location"]["region"] = region
    if platform != "web":
        context["device"] |= {"manufacturer": "Apple" if platform == "ios" else "Google",
                              "id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
        context["app"] = {"name": "Shop", "version": user_agent.split(" ", 1)[0].split("/")[1],
                          "namespace": "com.example.shop"}
        context["os"] = {"name": "iOS" if platform == "ios" else "Android"}
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    domain = rng.choice(("example.com", "example.org"))
    traits: dict[str, Any] = {
        "email": f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@{domain}",
        "name": f"{first} {last}", "first_name": first, "last_name": last,
        "phone": f"+{_DIAL[country]} 555-01{rng.randint(0, 99):02d}",
        "address": {"city": city, "country": country},
        "createdAt": _iso(start - timedelta(days=rng.randint(30, 1500))),
    }
    if rng.random() < 0.5:
        traits["birthday"] = f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-" \
                             f"{rng.randint(1, 28):02d}"
    else:
        traits["age"] = rng.randint(18, 75)
    # Newcomers always start anonymous; others are anonymous first a third of the time.
    anonymous_first = persona == "newcomer" or (persona != "email_engaged" and rng.random() < 0.35)
    identifies = persona in ("newcomer", "email_engaged") or not anonymous_first or \
        rng.random() < 0.65
    prefs = {p: rng.random() < odds for p, odds in _GRANT_ODDS.items()}
    currency, fx = _MONEY[country]
    return _Subject(
        index=index, persona=persona, platform=platform,
        anonymous_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        user_id=f"usr_{rng.getrandbits(48):012x}" if identifies else None,
        known=not anonymous_first, offset=offset, context=context, currency=currency, fx=fx,
        ips=tuple(_fake_ip(rng) for _ in range(rng.randint(1, 3 if platform != "web" else 2))),
        traits=traits, favourites=tuple(rng.sample(_CATEGORIES, rng.randint(1, 2))),
        accessory_buyer=rng.random() < 0.45, in_event_consent=rng.random() < _IN_EVENT_CONSENT,
        prefs=prefs, identified_at=None if anonymous_first else start,
    )
