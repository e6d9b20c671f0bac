"""A deterministic, realistic synthetic ingest stream for the demo and the tests.

:func:`generate_stream` imitates what an e-commerce and app CDP receives:
Segment Spec messages from a web shop, iOS and Android apps and an email
service, for subjects who each follow a persona (onboarding newcomers,
browsers, cart abandoners, repeat purchasers, high spenders, dormant,
email-engaged and seasonal shoppers), interleaved with preference-center
updates. It carries what the plugin must cope with in production: personal
data in traits, IPs and free-text comments; events with and without a consent
object; subjects with no consent at all; withdrawals; anonymous visitors who
identify later; malformed messages and replays.

Every value derives from ``random.Random(seed)``: the same arguments give the
identical stream. Every personal value is fake by construction: names from a
short list, ``example.com``/``example.org`` addresses, 555-01xx phone numbers
and documentation IP ranges (RFC 5737, RFC 3849).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import random
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from cdp_plugin.errors import ConfigError
from cdp_plugin.types import ConsentUpdate

if TYPE_CHECKING:
    from cdp_plugin.segments.planted import PlantedStream

__all__ = ["DEFAULT_START", "NOTICE_HASH", "NOTICE_TEXT", "NOTICE_VERSION", "StreamItem",
           "generate_stream", "planted_stream", "summary", "write_jsonl"]

DEFAULT_START: Final = datetime(2026, 10, 1, tzinfo=UTC)
NOTICE_VERSION: Final = "2026-09"
NOTICE_TEXT: Final = (
    "We use your data to understand how the shop is used and, if you agree, to personalise "
    "what you see, to send you offers by email, SMS or push, and to show you ads elsewhere. "
    "You can change these choices at any time in the preference center."
)
NOTICE_HASH: Final = hashlib.sha256(NOTICE_TEXT.encode()).hexdigest()
"""SHA-256 (hex) of the notice text every preference-center update was captured under."""

_PROOF: Final[Mapping[str, str]] = MappingProxyType(
    {"form_id": "pc-main", "text_hash": NOTICE_HASH, "capture_method": "web_form"})
_PURPOSES: Final = ("analytics", "personalization", "marketing", "advertising")
_MALFORMED_RATE: Final = 0.005
_REPLAY_RATE: Final = 0.003
_IN_EVENT_CONSENT: Final = 0.42  # share of subjects whose client sends a consent object
_PREFERENCE_CENTER: Final = 0.35  # share of subjects with a preference-center update
_WITHDRAWAL: Final = 0.2  # share of those (if known and active enough) who later withdraw
_SITE: Final = "https://shop.example.com"
_CATEGORY_NAMES: Final = {"analytics": "Analytics", "advertising": "Advertising",
                          "personalization": "Personalization", "marketing": "Marketing"}
_GRANT_ODDS: Final = {"analytics": 0.85, "personalization": 0.7, "marketing": 0.5,
                      "advertising": 0.3}
_PERSONAS: Final = {"newcomer": 14, "browser": 16, "cart_abandoner": 12, "repeat_purchaser": 14,
                    "high_spender": 6, "dormant": 14, "email_engaged": 12, "seasonal": 12}
# country, region, locale, IANA zone, UTC offset in October (hours), city, weight
_LOCATIONS: Final = (
    ("DE", "DE-BE", "de-DE", "Europe/Berlin", 2, "Berlin", 8),
    ("DE", "DE-BY", "de-DE", "Europe/Berlin", 2, "München", 6),
    ("DE", "DE-HH", "de-DE", "Europe/Berlin", 2, "Hamburg", 5),
    ("FR", "FR-IDF", "fr-FR", "Europe/Paris", 2, "Paris", 9),
    ("FR", "FR-ARA", "fr-FR", "Europe/Paris", 2, "Lyon", 4),
    ("NL", "NL-NH", "nl-NL", "Europe/Amsterdam", 2, "Amsterdam", 6),
    ("GB", "GB-LND", "en-GB", "Europe/London", 1, "London", 9),
    ("GB", "GB-MAN", "en-GB", "Europe/London", 1, "Manchester", 3),
    ("CH", "CH-ZH", "de-CH", "Europe/Zurich", 2, "Zürich", 4),
    ("CH", "CH-GE", "fr-CH", "Europe/Zurich", 2, "Genève", 2),
    ("US", "US-CA", "en-US", "America/Los_Angeles", -7, "San Francisco", 7),
    ("US", "US-NY", "en-US", "America/New_York", -4, "New York", 6),
    ("US", "US-TX", "en-US", "America/Chicago", -5, "Austin", 4),
    ("US", "US-WA", "en-US", "America/Los_Angeles", -7, "Seattle", 3),
    ("US", "US-IL", "en-US", "America/Chicago", -5, "Chicago", 3),
    ("US", "US-FL", "en-US", "America/New_York", -4, "Miami", 3),
    ("BR", "BR-SP", "pt-BR", "America/Sao_Paulo", -3, "São Paulo", 5),
    ("BR", "BR-RJ", "pt-BR", "America/Sao_Paulo", -3, "Rio de Janeiro", 3),
    ("JP", "JP-13", "ja-JP", "Asia/Tokyo", 9, "Tokyo", 5),
    ("JP", "JP-27", "ja-JP", "Asia/Tokyo", 9, "Osaka", 2),
)
_MONEY: Final = {"DE": ("EUR", 1.0), "FR": ("EUR", 1.0), "NL": ("EUR", 1.0), "GB": ("GBP", 0.86),
                 "CH": ("CHF", 0.94), "US": ("USD", 1.09), "BR": ("BRL", 6.1), "JP": ("JPY", 163.0)}
_DIAL: Final = {"DE": "49", "FR": "33", "NL": "31", "GB": "44", "CH": "41", "US": "1", "BR": "55",
                "JP": "81"}
_FIRST: Final = ("Anna", "Lukas", "Marie", "Jonas", "Emma", "Noah", "Sophie", "Liam", "Julia",
                 "Mateo", "Yuki", "Haruto", "Camille", "Louis", "Olivia", "Ana", "Pedro", "Femke")
_LAST: Final = ("Müller", "Schmidt", "Martin", "Bernard", "de Vries", "Jansen", "Smith", "Jones",
                "Meier", "Keller", "Garcia", "Silva", "Santos", "Sato", "Suzuki", "Dubois")
# Per-platform user agent, device and library; ``{id}`` is the subject's device id.
_PLATFORMS: Final = {
    "web": ((
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.0 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0.0.0 Safari/537.36",
    ), {"name": "analytics.js", "version": "next-1.72.0"}),
    "ios": (("Shop/4.12.0 (iPhone15,2; iOS 18.0; Scale/3.00)",
             "Shop/4.12.0 (iPhone14,5; iOS 17.6.1; Scale/3.00)",
             "Shop/4.11.2 (iPhone16,1; iOS 18.0.1; Scale/3.00)"),
            {"name": "analytics-swift", "version": "1.6.1"}),
    "android": (("Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240905.003)",
                 "Dalvik/2.1.0 (Linux; U; Android 14; SM-S921B Build/UP1A.231005.007)",
                 "Dalvik/2.1.0 (Linux; U; Android 13; moto g54 5G Build/T1TDS33.75-38)"),
                {"name": "analytics-kotlin", "version": "1.16.3"}),
}
# What the email service sees open a message (the mail client), per the subject's platform.
_MAIL_AGENTS: Final = {
    "web": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/129.0.0.0 Safari/537.36",
    "ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
           "(KHTML, like Gecko) Mobile/15E148",
    "android": "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/129.0.0.0 Mobile Safari/537.36",
}
_EMAIL_LIBRARY: Final = {"name": "email-events-webhook", "version": "2.3.0"}
# sku, name, category, brand, price (EUR); accessories are keyed by their core category.
_CORE: Final = (
    ("HP-100", "Aurora Wireless Headphones", "Headphones", "Lumen", 149.0),
    ("HP-200", "Aurora Pro Noise-Cancelling Headphones", "Headphones", "Lumen", 329.0),
    ("SP-410", "Nimbus 6 Smartphone", "Smartphones", "Nimbus", 699.0),
    ("SP-520", "Nimbus 6 Max Smartphone", "Smartphones", "Nimbus", 1099.0),
    ("CM-110", "Vista Compact Camera", "Cameras", "Vista", 449.0),
    ("CM-300", "Vista Mirrorless Camera", "Cameras", "Vista", 1249.0),
    ("RS-070", "Stride Road Running Shoes", "Running Shoes", "Stride", 129.0),
    ("RS-090", "Stride Trail Running Shoes", "Running Shoes", "Stride", 159.0),
    ("CF-210", "Brewmaster Pod Coffee Maker", "Coffee Machines", "Brewmaster", 99.0),
    ("CF-500", "Brewmaster Espresso Machine", "Coffee Machines", "Brewmaster", 389.0),
    ("LT-130", "Slate Air 13 Laptop", "Laptops", "Slate", 999.0),
    ("LT-140", "Slate 14 Pro Laptop", "Laptops", "Slate", 1399.0),
)
_ACCESSORIES: Final = {
    "Headphones": (("AC-HP1", "Headphone Travel Case", "Audio Accessories", "Lumen", 29.0),
                   ("AC-HP2", "Replacement Ear Cushions", "Audio Accessories", "Lumen", 19.0)),
    "Smartphones": (("AC-SP1", "Silicone Phone Case", "Phone Accessories", "Nimbus", 25.0),
                    ("AC-SP2", "30W USB-C Charger", "Phone Accessories", "Nimbus", 35.0)),
    "Cameras": (("AC-CM1", "128 GB SD Card", "Camera Accessories", "Vista", 39.0),
                ("AC-CM2", "Spare Battery", "Camera Accessories", "Vista", 59.0)),
    "Running Shoes": (("AC-RS1", "Running Socks (3-pack)", "Running Accessories", "Stride", 19.0),
                      ("AC-RS2", "Reflective Running Belt", "Running Accessories", "Stride", 24.0)),
    "Coffee Machines": (("AC-CF1", "Espresso Capsules (50)", "Coffee Accessories", "Brewmaster",
                         17.5),
                        ("AC-CF2", "Descaling Kit", "Coffee Accessories", "Brewmaster", 12.0)),
    "Laptops": (("AC-LT1", "Laptop Sleeve 14 in", "Computer Accessories", "Slate", 45.0),
                ("AC-LT2", "USB-C Hub", "Computer Accessories", "Slate", 69.0)),
}
_CATEGORIES: Final = tuple(_ACCESSORIES)
_GUIDES: Final = (("/guides/choosing-running-shoes", "How to choose running shoes"),
                  ("/guides/espresso-at-home", "Espresso at home: a beginner's guide"),
                  ("/guides/mirrorless-vs-compact", "Mirrorless or compact?"),
                  ("/guides/noise-cancelling-explained", "Noise cancelling, explained"))
_CAMPAIGNS: Final = (("Weekly Picks", "/collections/weekly-picks"),
                     ("New Arrivals", "/collections/new"),
                     ("Back in Stock", "/collections/back-in-stock"),
                     ("Guides & Tips", "/guides"),
                     ("Loyalty Rewards", "/account/rewards"))
_SALE: Final = ("Autumn Sale", "/promo/autumn-sale")
_FEATURES: Final = ("wishlist", "size_guide", "price_alert", "store_locator", "compare")
_COMMENTS: Final = ("Does exactly what I hoped.", "Good value, fast delivery.",
                    "Smaller than expected but works well.", "Second one I bought, still great.",
                    "Packaging was damaged, product fine.")
# Local hours when sessions start: app use peaks on commutes and evenings, web use in the day.
_HOURS: Final = {
    "mobile": ((7, 8, 12, 13, 17, 18, 19, 20, 21, 22), (6, 6, 5, 4, 6, 5, 5, 7, 7, 4)),
    "web": ((9, 10, 11, 13, 14, 15, 16, 19, 20, 21, 22), (4, 5, 5, 4, 5, 5, 4, 6, 7, 6, 3)),
}
_BAD_TIMESTAMPS: Final = ("2026-10-32T10:00:00Z", "yesterday", "10/03/2026 14:22:05", "")

Product = tuple[str, str, str, str, float]


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One item of the stream: a Segment Spec message or a preference-center update.

    Exactly one of ``event`` and ``preference`` is set. ``at`` is when the item
    reaches the CDP (UTC): an event's own ``timestamp`` except for a replay,
    which arrives later than the message it repeats.
    """

    at: datetime
    event: dict[str, Any] | None
    preference: ConsentUpdate | None


@dataclass(slots=True)
class _Subject:
    index: int
    persona: str
    platform: str
    anonymous_id: str
    user_id: str | None  # None: never identifies
    known: bool  # identified from the first event on (a returning, logged-in customer)
    offset: int  # hours from UTC, for local times of day
    context: dict[str, Any]  # the device's part of every message's context
    currency: str
    fx: float
    ips: tuple[str, ...]
    traits: dict[str, Any]
    favourites: tuple[str, ...]
    accessory_buyer: bool
    in_event_consent: bool
    prefs: dict[str, bool]
    identified_at: datetime | None = None
    withdrawal: tuple[datetime, str] | None = None

    def prefs_at(self, at: datetime) -> dict[str, bool]:
        if self.withdrawal is not None and at >= self.withdrawal[0]:
            return {**self.prefs, self.withdrawal[1]: False}
        return self.prefs


@dataclass(slots=True)
class _Step:
    kind: str  # a Segment message type
    name: str | None
    body: dict[str, Any]  # properties, or traits for identify
    page: tuple[str, str] | None = None  # (path, title) the browser is on
    dwell: float = 2.0  # seconds until the next step
    server: bool = False  # sent by the email service, not the subject's device


class _Planned(NamedTuple):
    # Ordered by (at, subject, seq), which is unique: later fields are never compared.
    at: datetime
    subject_index: int
    seq: int
    subject: _Subject
    item: _Step | ConsentUpdate
    message_id: str
    ip: str
    campaign: dict[str, str] | None


class _Campaign(NamedTuple):
    day: int
    campaign_id: str
    name: str
    path: str


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


def planted_stream(seed: int = 7, start: datetime = DEFAULT_START) -> PlantedStream:
    """A short stream of subjects with planted behaviours, and the segments each must be in.

    Where :func:`generate_stream` imitates production, this one plants known
    behaviours (cart abandoners, steady buyers, seasonal shoppers, newcomers
    who finish or skip setup...) and returns their ground truth for the
    default segment rules; see :mod:`cdp_plugin.segments.planted`.
    """
    # Imported here: the planted behaviours build on this module's stream items.
    from cdp_plugin.segments.planted import planted_stream as plant

    return plant(seed, start)


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


def _ms(at: datetime) -> datetime:
    """``at`` truncated to milliseconds, the precision of a message's timestamp."""
    return at - timedelta(microseconds=at.microsecond % 1000)


def _iso(at: datetime) -> str:
    # Every time here is UTC, so the "+00:00" suffix is always six characters.
    return at.isoformat(timespec="milliseconds")[:-6] + "Z"


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


class _Planner:
    """Plans one subject's timeline: sessions by persona, then steps, then consent updates."""

    def __init__(self, index: int, rng: random.Random, start: datetime, days: int,
                 campaigns: tuple[_Campaign, ...]) -> None:
        self.rng, self.start, self.days, self.campaigns = rng, start, days, campaigns
        self.end = start + timedelta(days=days)
        self.s = _make_subject(index, rng, start)
        self.queue: list[tuple[datetime, int, str, Any]] = []  # sessions: (at, n, goal, arg)
        self.laid: list[tuple[datetime, _Step, str, dict[str, str] | None]] = []
        self.steps: list[_Step] = []
        self.page: tuple[str, str] | None = None
        self.pending = 0.0  # time left on the current page or screen
        self.sessions = self.pushed = 0
        self.now = start
        # Returning customers who start anonymous sign in during one of their first sessions.
        returning = not self.s.known and self.s.user_id is not None and \
            self.s.persona != "newcomer"
        self.sign_in_session = rng.randint(1, 3) if returning else -1
        self.active = rng.random() < 0.55  # newcomers: feature adoption vs passive exploration

    # -- scheduling ---------------------------------------------------------------------

    def at(self, day: float) -> datetime:
        """A session start on ``day`` at a plausible local hour for the subject's platform."""
        hours, weights = _HOURS["web" if self.s.platform == "web" else "mobile"]
        hour = self.rng.choices(hours, weights)[0] + self.rng.random()
        ms = int((int(day) * 24 + hour - self.s.offset) * 3_600_000)
        return self.start + timedelta(milliseconds=ms)

    def push(self, at: datetime, goal: str, arg: Any = None) -> None:
        self.pushed += 1
        heapq.heappush(self.queue, (_ms(at), self.pushed, goal, arg))

    def plan(self) -> list[_Planned]:
        s, rng, days = self.s, self.rng, self.days
        persona = s.persona
        if persona == "newcomer":
            signup = self.at(rng.uniform(0, days * 0.6))
            self.push(signup, "signup")
            for _ in range(rng.randint(1, 3)):
                self.push(signup + timedelta(days=rng.uniform(0.3, 3)), "onboard")
            if rng.random() < 0.35:  # first purchase within the first week
                self.push(signup + timedelta(days=rng.uniform(0.5, 7)), "order")
            for _ in range(rng.randint(0, 3)):
                self.push(signup + timedelta(days=rng.uniform(3, 20)), "browse")
        elif persona == "browser":
            for day in self._days((3, 7)):
                self.push(self.at(day), "browse")
        elif persona == "cart_abandoner":
            for day in self._days((3.5, 7)):
                self.push(self.at(day), rng.choices(("browse", "cart", "checkout"), (5, 4, 2))[0])
        elif persona in ("repeat_purchaser", "high_spender"):
            cadence = rng.uniform(5, 10) if persona == "repeat_purchaser" else rng.uniform(7, 12)
            for day in self._days((cadence - 1.5, cadence + 1.5)):
                self.push(self.at(day), "order")
                if rng.random() < 0.35:
                    self.push(self.at(day + rng.uniform(1, cadence - 1)), "browse")
        elif persona == "dormant":
            for _ in range(rng.randint(1, 3)):
                self.push(self.at(rng.uniform(0, min(4, days))), rng.choice(("browse", "cart")))
        elif persona == "email_engaged":
            for day in self._days((7, 16)):
                self.push(self.at(day), "browse")
        else:  # seasonal: quiet, then clustered purchases during the sale
            first, last = _sale_window(days)
            if rng.random() < 0.5:
                self.push(self.at(rng.uniform(0, first)), "browse")
            for _ in range(rng.randint(2, 4)):
                self.push(self.at(rng.uniform(first, last + 1)), rng.choice(("sale", "order")))
        email_odds = {"email_engaged": 0.75, "dormant": 0.0}.get(persona, 0.1)
        for campaign in self.campaigns:
            if rng.random() < email_odds:
                # Sent at 08:00 local time; opened minutes to hours later.
                sent = self.start + timedelta(days=campaign.day, hours=8 - self.s.offset)
                self.push(sent + timedelta(minutes=rng.expovariate(1 / 150)), "email", campaign)
        while self.queue:
            at, _, goal, arg = heapq.heappop(self.queue)
            self._session(at, goal, arg)
        return self._finish()

    def _days(self, gap: tuple[float, float]) -> list[float]:
        """Days from the start to the end of the period, ``gap`` (min, max) days apart."""
        out, day = [], self.rng.uniform(0, gap[1])
        while day < self.days:
            out.append(day)
            day += self.rng.uniform(*gap)
        return out

    # -- sessions -----------------------------------------------------------------------

    def _session(self, at: datetime, goal: str, arg: Any) -> None:
        s, rng = self.s, self.rng
        self.steps, self.page, self.pending = [], None, 0.0
        campaign = None
        if goal == "email":
            if s.identified_at is None or at < s.identified_at:
                return  # the email service only knows identified subjects
            props = {"email_id": f"em-{rng.getrandbits(40):010x}", "campaign_id": arg.campaign_id,
                     "campaign_name": arg.name, "email_subject": f"{arg.name}: picked for you"}
            self.steps.append(_Step("track", "Email Opened", props, dwell=rng.uniform(5, 90),
                                    server=True))
            if rng.random() > 0.45:
                return self._lay_out(at, None)
            link = {**props, "link_url": f"{_SITE}{arg.path}?utm_source=newsletter"}
            self.steps.append(_Step("track", "Email Link Clicked", link, dwell=1.5, server=True))
            campaign = {"name": arg.campaign_id, "source": "newsletter", "medium": "email",
                        "content": arg.name}
            goal = "landing"
            if s.persona == "email_engaged":
                goal = rng.choices(("landing", "cart", "order"), (7, 1, 2))[0]
        self.sessions, self.now = self.sessions + 1, at
        if campaign is not None:  # the link opens the campaign's landing page
            self._view(arg.name, arg.path)
        else:
            self._open(goal)
        if self.sessions == 1 and s.known:
            self.steps.append(_Step("identify", None, dict(s.traits), self.page))
        if self.sessions == self.sign_in_session:
            self._view("Sign In", "/login")
            self._identify("Signed In", {"method": rng.choice(("password", "apple", "google"))})
        if goal == "signup":
            s.traits["createdAt"] = _iso(at)
            self._signup()
        elif goal == "onboard" and self.active:
            for feature in rng.sample(_FEATURES, rng.randint(1, 2)):
                self._view("Product Detail", "/p/" + rng.choice(_CORE)[0].lower())
                self._track("Feature Used", {"feature": feature})
        elif goal == "review":
            self._review(arg)
        else:  # landing pages and passive onboarding carry on as browsing
            self._shop(goal if goal in ("cart", "checkout", "order", "sale") else "browse")
        if s.platform != "web" and rng.random() < 0.3:
            self._track("Application Backgrounded", {})
        self._lay_out(at, campaign)

    def _open(self, goal: str) -> None:
        if self.s.platform == "web":
            if goal == "browse" and self.rng.random() < 0.35:
                self._view("Guide", *self.rng.choice(_GUIDES), long_read=True)
            else:
                self._view("Home", "/")
            return
        if goal == "signup":
            self._track("Application Installed", {"version": "4.12.0", "build": "4120"})
        self._track("Application Opened", {"from_background": self.rng.random() < 0.4,
                                           "version": "4.12.0", "build": "4120"})
        self._view("Home", "/")

    def _view(self, name: str, path: str, title: str | None = None,
              long_read: bool = False) -> None:
        """A page (web) or screen (apps); its dwell time is added before the next view."""
        rng = self.rng
        if self.steps:
            self.steps[-1].dwell += self.pending
        title = title or name
        if self.s.platform == "web":
            seconds = min(1800, max(3, int(rng.lognormvariate(5.4 if long_read else 3.6,
                                                              0.5 if long_read else 0.8))))
            referrer = _SITE + self.page[0] if self.page else "https://search.example.org/"
            self.page = (path, title)
            props = {"path": path, "url": _SITE + path, "title": title, "referrer": referrer,
                     "time_on_page_s": seconds}
            self.steps.append(_Step("page", name, props, self.page, rng.uniform(0.5, 3)))
        else:
            seconds = min(90, max(1, int(rng.lognormvariate(2.0, 0.6))))
            self.steps.append(_Step("screen", name, {"time_on_screen_s": seconds},
                                    dwell=rng.uniform(0.2, 1)))
        self.pending = seconds

    def _track(self, name: str, props: dict[str, Any]) -> None:
        self.steps.append(_Step("track", name, props, self.page, self.rng.uniform(0.3, 4)))

    def _identify(self, event: str, props: dict[str, Any]) -> None:
        """Link the anonymous visitor to the account: alias, identify, then the event."""
        self.steps.append(_Step("alias", None, {}, self.page, 0.05))
        self.steps.append(_Step("identify", None, dict(self.s.traits), self.page, 0.1))
        self._track(event, props)

    def _signup(self) -> None:
        rng = self.rng
        self._view("Sign Up", "/signup")
        self._identify("Signed Up", {"method": rng.choice(("email", "apple", "google"))})
        if rng.random() < 0.6:
            self._view("Profile", "/account/profile")
            self._track("Profile Completed", {"fields_completed": rng.randint(4, 9)})
        roll = rng.random()
        if roll < 0.45:
            self._view("Tutorial", "/onboarding/tutorial")
            self._track("Tutorial Completed", {"steps": 5, "duration_s": rng.randint(40, 300)})
        elif roll < 0.8:
            self._view("Tutorial", "/onboarding/tutorial")
            self._track("Tutorial Skipped", {"step": rng.randint(1, 4)})
        if self.active:
            self._track("Feature Used", {"feature": rng.choice(_FEATURES)})

    def _money(self, eur: float) -> float:
        """``eur`` in the subject's currency (yen have no minor unit)."""
        amount = eur * self.s.fx
        return float(round(amount)) if self.s.currency == "JPY" else round(amount, 2)

    def _product(self, item: Product, quantity: int | None = None) -> dict[str, Any]:
        sku, name, category, brand, eur = item
        price = self._money(eur)
        props = {"product_id": sku, "sku": sku, "name": name, "category": category,
                 "brand": brand, "price": price, "currency": self.s.currency,
                 "url": f"{_SITE}/p/{sku.lower()}"}
        if quantity is not None:
            props["quantity"] = quantity
        return props

    def _browse(self, category: str, core: list[Product]) -> None:
        rng = self.rng
        if rng.random() < 0.3:
            self._view("Search Results", "/search")
            self._track("Products Searched", {"query": rng.choice((category, core[0][3])).lower()})
        self._view("Category", f"/c/{category.lower().replace(' ', '-')}", category)
        if rng.random() < 0.5:
            self._track("Product List Viewed", {"list_id": category.lower(), "category": category,
                                                "products": [self._product(p) for p in core]})
        for item in rng.sample(core, 1 if self.s.platform != "web" or rng.random() < 0.6 else 2):
            self._view("Product Detail", f"/p/{item[0].lower()}", item[1])
            self._track("Product Viewed", self._product(item))

    def _shop(self, goal: str) -> None:
        """A shopping session that goes as far as ``goal``: browse, cart, checkout, order, sale."""
        rng, s = self.rng, self.s
        category = rng.choice(s.favourites)
        core = [p for p in _CORE if p[2] == category]
        if goal == "sale":
            self._view("Promotion", _SALE[1], _SALE[0])
            self._track("Promotion Viewed", {"promotion_id": "autumn-sale", "name": _SALE[0],
                                             "creative": "hero-banner", "position": "home_top"})
        if goal == "order" and s.persona == "repeat_purchaser" and rng.random() < 0.5:
            self._view("Order History", "/account/orders")  # a reorder skips browsing
        else:
            self._browse(category, core)
        if goal == "browse":
            return
        basket: list[tuple[Product, int]] = [(rng.choice(core), 1)]
        if s.persona == "high_spender":  # the whole line, premium model included
            basket = [(item, rng.randint(1, 2)) for item in core]
        if s.accessory_buyer and rng.random() < 0.7:
            basket.append((rng.choice(_ACCESSORIES[category]), rng.randint(1, 3)))
        cart_id = f"cart-{rng.getrandbits(32):08x}"
        for item, quantity in basket:
            self._track("Product Added", {"cart_id": cart_id,
                                          **self._product(item, quantity)})
        if goal == "cart":
            return
        products = [self._product(item, quantity) for item, quantity in basket]
        eur = sum(item[4] * quantity for item, quantity in basket)
        value = self._money(eur)
        checkout = {"checkout_id": f"co-{rng.getrandbits(32):08x}", "value": value,
                    "revenue": value, "currency": s.currency, "products": products}
        self._view("Cart", "/cart")
        self._track("Cart Viewed", {"cart_id": cart_id, "products": products})
        self._view("Checkout", "/checkout")
        self._track("Checkout Started", checkout)
        if goal == "checkout":
            return
        paid = eur * 0.8 if goal == "sale" else eur  # the sale coupon takes 20 % off
        shipping = 0.0 if eur > 50 else self._money(4.95)
        revenue = self._money(paid)
        order = {**checkout, "order_id": f"ord-{rng.getrandbits(40):010x}",
                 "affiliation": "Online Store", "revenue": revenue,
                 "total": round(revenue + shipping, 2), "shipping": shipping,
                 "tax": self._money(paid * 0.19), "discount": self._money(eur - paid)}
        if goal == "sale":
            order["coupon"] = "AUTUMN20"
        self._view("Order Confirmation", "/checkout/confirmation")
        self._track("Order Completed", order)
        if rng.random() < 0.25:
            self.push(self.now + timedelta(days=rng.uniform(1, 5)), "review", basket[0][0])

    def _review(self, item: Product) -> None:
        rng, s = self.rng, self.s
        self._view("Write a Review", f"/p/{item[0].lower()}/review", item[1])
        props: dict[str, Any] = {"product_id": item[0],
                                 "review_id": f"rv-{rng.getrandbits(32):08x}",
                                 "rating": rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 6))[0]}
        roll = rng.random()
        # Free text is where personal data leaks into events without anyone asking for it.
        if roll < 0.2:
            props["comment"] = f"{rng.choice(_COMMENTS)} Questions? Write to {s.traits['email']}"
        elif roll < 0.35:
            props["comment"] = f"Arrived late, please call me on {s.traits['phone']}."
        elif roll < 0.8:
            props["comment"] = rng.choice(_COMMENTS)
        self._track("Review Submitted", props)

    # -- timing and consent -------------------------------------------------------------

    def _lay_out(self, at: datetime, campaign: dict[str, str] | None) -> None:
        """Give the session's steps their times; steps outside the period are cut."""
        s, rng = self.s, self.rng
        ip = rng.choice(s.ips)
        for step in self.steps:
            if at >= self.end:
                break
            if at >= self.start:
                if step.kind == "alias" and s.identified_at is None:
                    s.identified_at = at
                self.laid.append((at, step, ip, campaign))
            at += timedelta(milliseconds=int(step.dwell * 1000))

    def _finish(self) -> list[_Planned]:
        """The subject's timeline in time order, with messageIds and consent updates."""
        s, rng = self.s, self.rng
        rows: list[tuple[datetime, _Step | ConsentUpdate, str, dict[str, str] | None]] = []
        rows.extend(self.laid)
        times = sorted(at for at, *_ in self.laid)
        if times and rng.random() < _PREFERENCE_CENTER:
            rows.extend((at, update, "", None) for at, update in self._preferences(times))
        rows.sort(key=lambda row: row[0])  # stable: steps keep their order at equal times
        planned = []
        for seq, (at, item, ip, campaign) in enumerate(rows):
            message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if ip else ""
            planned.append(_Planned(at, s.index, seq, s, item, message_id, ip, campaign))
        return planned

    def _preferences(self, times: list[datetime]) -> list[tuple[datetime, ConsentUpdate]]:
        """One preference-center visit, early or between events, and perhaps a later withdrawal."""
        s, rng = self.s, self.rng
        withdraw = None
        if s.known and len(times) >= 6 and rng.random() < _WITHDRAWAL:
            withdraw = rng.choice(("marketing", "marketing", "personalization", "advertising"))
            s.prefs[withdraw] = True  # a withdrawal takes back an earlier grant
        if withdraw is not None or rng.random() < 0.45:  # on the first visit or at sign-up
            at = times[0] - timedelta(milliseconds=rng.randint(5_000, 120_000))
            if not s.known and s.identified_at is not None:
                at = s.identified_at + timedelta(milliseconds=rng.randint(20_000, 300_000))
        else:
            at = rng.choice(times) + timedelta(milliseconds=rng.randint(1_000, 600_000))
        at = min(max(at, self.start), self.end - timedelta(milliseconds=1))
        named = set(rng.sample(_PURPOSES, rng.randint(2, 4)))
        if withdraw is not None:
            named.add(withdraw)
        channels = {"email": s.prefs["marketing"] and rng.random() < 0.9}
        if rng.random() < 0.5:
            channels["sms"] = s.prefs["marketing"] and rng.random() < 0.3
        if s.platform != "web":
            channels["push"] = rng.random() < 0.6
        stated: dict[str, bool] = {p: s.prefs[p] for p in _PURPOSES if p in named}
        updates = [(at, self._update(at, stated, channels))]
        if withdraw is not None:
            i = rng.randint(len(times) // 3, 2 * len(times) // 3 - 1)
            later = max(_ms(times[i] + (times[i + 1] - times[i]) / 2), at + timedelta(seconds=1))
            s.withdrawal = (later, withdraw)
            denied = {"email": False} if withdraw == "marketing" else {}
            updates.append((later, self._update(later, {withdraw: False}, denied)))
        return updates

    def _update(self, at: datetime, purposes: dict[str, bool],
                channels: dict[str, bool]) -> ConsentUpdate:
        s = self.s
        identified = s.identified_at is not None and at >= s.identified_at
        return ConsentUpdate(
            subject_id=s.user_id if identified and s.user_id else s.anonymous_id,
            captured_at=at, source="preference_center",
            purposes=MappingProxyType(purposes), channels=MappingProxyType(channels),
            notice_version=NOTICE_VERSION, proof=_PROOF,
        )
