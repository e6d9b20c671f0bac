"""A stream with planted behaviours and the segments each subject must be in.

:func:`planted_stream` plans subjects who each follow one known behaviour
(newcomers who finish or skip setup, cart abandoners, buyers with a steady
rhythm, big spenders, accessory buyers, seasonal shoppers, email fans,
multi-channel fans, deep readers, app snackers, dormant customers...) on a
phone app or the website, in one of several languages, and subjects who deny
or later withdraw consent. It returns the stream (preference updates and
Segment Spec messages, in time order) and, per subject, the ground truth:
the default segments of ``rules/segments.yaml`` the subject must be in after
the stream, and after a tick at any later time.

The truth is derived from the plan, never from the events or the engine: each
segment's definition is restated over the planted steps
(:mod:`tests.segments.truth`), and every behaviour names the segments it
is planted for (``intended``), which the truth must include. Times and amounts
are kept away from every threshold.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from cdp_plugin.synthetic import DEFAULT_START, NOTICE_VERSION, StreamItem
from cdp_plugin.types import ConsentUpdate
from tests.segments.truth import (
    ACCESSORY_CATEGORY,
    CORE_CATEGORY,
    MARKETING_EVENTS,
    MARKETING_SEGMENTS,
    segments_at,
)

PLANT_DAYS = 28
"""Length of the planted period; the stream ends ``PLANT_DAYS`` after its start."""
TICK_OFFSETS = (timedelta(0), timedelta(days=2), timedelta(days=75))
"""When, after the end of the stream, to tick: at once, two days later (carts
abandoned, replenishment due), and after more than 60 days (dormant)."""
PURPOSES = ("analytics", "personalization", "marketing", "advertising")
_STEP = timedelta(seconds=20)
_READ, _SKIM, _GLANCE = 300, 20, 8  # seconds per page read, page skimmed, screen
_LOCALES = ("de-DE", "fr-FR", "en-GB", "de-CH", "fr-BE", "es-ES")
_ZONES = {"de-DE": "Europe/Berlin", "fr-FR": "Europe/Paris", "en-GB": "Europe/London",
          "de-CH": "Europe/Zurich", "fr-BE": "Europe/Brussels", "es-ES": "Europe/Madrid"}
_CORE = ("LT-130", CORE_CATEGORY)
_ACCESSORY = ("AC-LT1", ACCESSORY_CATEGORY)
_REFILL = ("CF-CAPS", "Coffee Capsules")


class Step(NamedTuple):
    """One planted message: ``kind`` is page, screen or track; ``server`` marks
    messages an email service sends about the subject."""

    at: datetime
    kind: str
    name: str
    properties: Mapping[str, Any]
    server: bool = False


@dataclass(frozen=True, slots=True)
class PlantedSubject:
    """One subject, its behaviour, consents, planned messages and intended segments."""

    user_id: str
    behaviour: str
    platform: str
    locale: str
    reader: bool
    consent: Mapping[str, bool]
    steps: tuple[Step, ...]
    intended: frozenset[str]
    withdrawn_at: datetime | None = None

    @property
    def mobile(self) -> bool:
        return self.platform != "web"

    @property
    def settled_at(self) -> datetime:
        """When the subject was last evaluated in the stream: its last event, or a
        later withdrawal."""
        last = max(step.at for step in self.steps)
        return max(last, self.withdrawn_at) if self.withdrawn_at is not None else last

    def truth_as_streamed(self) -> frozenset[str]:
        """The segments after the stream, before any tick: each as last evaluated by
        an event that may update it (for marketing segments, the last message that
        serves marketing)."""
        if self.withdrawn_at is not None:
            return frozenset()
        found = self.truth(self.settled_at) - MARKETING_SEGMENTS
        serving = [step.at for step in self.steps if step.name in MARKETING_EVENTS]
        if serving:
            found |= self.truth(max(serving)) & MARKETING_SEGMENTS
        return found

    def truth(self, at: datetime) -> frozenset[str]:
        """The default segments the subject is in when evaluated at ``at``."""
        return segments_at(self, at)


@dataclass(frozen=True, slots=True)
class PlantedStream:
    """The planted items in time order, the subjects by user id, the end of the
    stream and the times to tick at afterwards."""

    items: tuple[StreamItem, ...]
    subjects: Mapping[str, PlantedSubject]
    end: datetime
    ticks: tuple[datetime, ...] = field(default=())

    def truth_at_end(self) -> dict[str, frozenset[str]]:
        """Each subject's segments after the stream, before any tick: as its events
        last evaluated them (nothing else re-evaluates them until a tick)."""
        return {uid: s.truth_as_streamed() for uid, s in self.subjects.items()}

    def truth_at(self, at: datetime) -> dict[str, frozenset[str]]:
        """Each subject's segments after a tick at ``at``."""
        return {uid: s.truth(at) for uid, s in self.subjects.items()}


def planted_stream(seed: int = 7, start: datetime = DEFAULT_START) -> PlantedStream:
    """The planted stream; the same arguments give the identical stream.

    ``start`` must be timezone-aware; it is the stream's first instant. The
    seasonal behaviours assume the default start (October), when the autumn
    sale falls inside the period.
    """
    start = start.astimezone(UTC)
    rng = random.Random(seed)
    subjects: dict[str, PlantedSubject] = {}
    index = 0
    for behaviour, count in _BEHAVIOURS:
        for variant in range(count):
            plan = _Plan(behaviour, index, variant, rng, start)
            _PLANNERS[behaviour](plan)
            subject = plan.build()
            subjects[subject.user_id] = subject
            index += 1
    end = start + timedelta(days=PLANT_DAYS)
    items = sorted(_items(subjects.values(), start, rng), key=lambda item: item.at)
    return PlantedStream(tuple(items), MappingProxyType(subjects), end,
                         tuple(end + offset for offset in TICK_OFFSETS))


# -- planning -------------------------------------------------------------------------------


class _Plan:
    """Builds one subject's steps; days are fractions of days from the start."""

    def __init__(self, behaviour: str, index: int, variant: int, rng: random.Random,
                 start: datetime) -> None:
        self.behaviour, self.variant, self.rng, self.start = behaviour, variant, rng, start
        self.user_id = f"planted-{behaviour}-{variant}"
        self.platform = ("web", "ios", "android")[index % 3]
        self.locale = _LOCALES[index % len(_LOCALES)]
        self.reader = (index // 3) % 2 == 0
        self.consent = dict.fromkeys(PURPOSES, True)
        self.steps: list[Step] = []
        self.intended: set[str] = set()
        self.withdrawn_at: datetime | None = None

    def build(self) -> PlantedSubject:
        return PlantedSubject(self.user_id, self.behaviour, self.platform, self.locale,
                              self.reader, MappingProxyType(dict(self.consent)),
                              tuple(sorted(self.steps, key=lambda step: step.at)),
                              frozenset(self.intended), self.withdrawn_at)

    def at(self, day: float) -> datetime:
        """A time on ``day``, jittered by up to ten minutes so no two subjects collide."""
        jitter = timedelta(seconds=self.rng.randint(0, 600))
        return self.start + timedelta(days=day) + jitter

    def session(self, day: float, views: int | Sequence[str],
                tracks: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> datetime:
        """A visit: pages (website) or screens (app), then tracked events."""
        at = self.at(day)
        names = [f"View {n}" for n in range(views)] if isinstance(views, int) else list(views)
        for name in names:
            if self.platform == "web":
                seconds = _READ if self.reader else _SKIM
                self.steps.append(Step(at, "page", name, {"path": "/" + name.lower()
                                                          .replace(" ", "-"),
                                                          "time_on_page_s": seconds}))
            else:
                self.steps.append(Step(at, "screen", name, {"time_on_screen_s": _GLANCE}))
            at += _STEP
        for event, properties in tracks:
            self.steps.append(Step(at, "track", event, properties))
            at += _STEP
        return at

    def order(self, day: float, lines: Sequence[tuple[tuple[str, str], float]]) -> None:
        """A visit that ends in an order of the given (product, price) lines."""
        products = [{"product_id": sku, "category": category, "price": price, "quantity": 1}
                    for (sku, category), price in lines]
        revenue = round(sum(price for _, price in lines), 2)
        self.session(day, ["Product Detail", "Checkout"], [
            *(("Product Added", product) for product in products),
            ("Checkout Started", {"value": revenue, "currency": "EUR"}),
            ("Order Completed", {"order_id": f"o-{self.rng.getrandbits(32):08x}",
                                 "revenue": revenue, "currency": "EUR", "products": products}),
        ])

    def email(self, day: float, click: bool = False) -> None:
        at = self.at(day)
        campaign = {"campaign_id": f"cmp-{int(day):03d}", "email_id": f"em-{int(day)}"}
        self.steps.append(Step(at, "track", "Email Opened", campaign, server=True))
        if click:
            self.steps.append(Step(at + _STEP, "track", "Email Link Clicked", campaign,
                                   server=True))


def _newcomer(plan: _Plan) -> None:
    """Setup, adoption and first purchase vary together (a Latin square of 9 variants)."""
    setup = ("complete", "skip", "none")[plan.variant // 3]
    adoption = ("active", "passive", "none")[plan.variant % 3]
    purchase = ("fast", "late", "none")[(plan.variant // 3 + plan.variant) % 3]
    signup = 16.5 + 0.2 * plan.variant
    tracks: list[tuple[str, Mapping[str, Any]]] = [("Signed Up", {"method": "email"})]
    views = ["Sign Up"]
    if setup == "complete":
        views += ["Profile", "Tutorial"]
        tracks += [("Profile Completed", {"fields_completed": 6}),
                   ("Tutorial Completed", {"steps": 5})]
    elif setup == "skip":
        views += ["Tutorial"]
        tracks += [("Tutorial Skipped", {"step": 1})]
    plan.session(signup, views, tracks)
    if adoption == "active":
        plan.session(signup + 1, ["Home"], [("Feature Used", {"feature": "wishlist"}),
                                            ("Feature Used", {"feature": "compare"})])
    elif adoption == "passive":
        plan.session(signup + 1, ["Home", "Category", "Product Detail", "Guide"])
    if purchase != "none":
        plan.order(signup + (2 if purchase == "fast" else 9), [(_CORE, 45.0)])
    plan.intended |= {
        "complete": {"onboarding_completed"}, "skip": {"onboarding_skipped"}, "none": set(),
    }[setup] | {"active": {"early_adopter"}, "passive": {"passive_explorer"}, "none": set()}[
        adoption] | {"fast": {"first_purchase_in_window"}, "late": set(),
                     "none": {"signed_up_not_purchased"}}[purchase] | {"new_customer"}


def _cart(plan: _Plan) -> None:
    """Carts left 1.5 days before the end, 6 hours before, emptied, or ordered."""
    kind = plan.behaviour
    plan.session(10, 2)
    added = {"product_id": _CORE[0], "category": _CORE[1], "price": 49.0, "quantity": 1}
    if kind == "cart_abandoner":
        plan.session(PLANT_DAYS - 1.5, ["Product Detail", "Cart"],
                     [("Product Added", added), ("Cart Viewed", {})])
        plan.intended |= {"cart_open", "cart_abandoned"}
    elif kind == "cart_recent":
        plan.session(PLANT_DAYS - 0.3, ["Product Detail"], [("Product Added", added)])
        plan.intended |= {"cart_open", "cart_abandoned"}
    elif kind == "cart_emptied":
        plan.session(PLANT_DAYS - 1.2, ["Product Detail", "Cart"],
                     [("Product Added", added), ("Product Removed", added)])
        plan.intended |= {"cart_open"}
    else:
        plan.session(PLANT_DAYS - 3, ["Product Detail"], [("Product Added", added)])
        plan.order(PLANT_DAYS - 2.8, [(_CORE, 49.0)])


def _rhythm(plan: _Plan) -> None:
    """Orders every 7 days (due just after the end), every 7 days earlier (due at the
    end), or at uneven gaps (never due)."""
    days = {"replenisher": (3, 10, 17, 24), "replenisher_due": (6, 13, 20),
            "irregular_buyer": (1, 2, 14, 24)}[plan.behaviour]
    for day in days:
        plan.order(day + 0.1 * plan.variant, [(_REFILL, 30.0)])
    plan.intended.add("repeat_buyer")
    if plan.behaviour != "irregular_buyer":
        plan.intended.add("replenishment_due")


def _spender(plan: _Plan) -> None:
    """Big orders from the first hours on, so the cohort average is high from the start."""
    for day in (0.05, 12, 25):
        plan.order(day, [(_CORE, 600.0)])
    plan.intended |= {"high_spender", "above_average_spender", "repeat_buyer"}


def _basket(plan: _Plan) -> None:
    if plan.behaviour == "accessory_buyer":
        lines = [(_CORE, 40.0), (_ACCESSORY, 15.0)]
        plan.intended.add("accessory_affinity")
    else:
        lines = [(_CORE, 50.0)]
    for day in (6, 16):
        plan.order(day + 0.2 * plan.variant, lines)
    plan.intended.add("repeat_buyer")


def _season(plan: _Plan) -> None:
    """Orders in the autumn sale (19 to 26 days after an October start), or outside it."""
    plan.session(5, 2)
    days = (19.2, 19.5, 25.8) if plan.behaviour == "seasonal" else (4, 11, 21)
    for day in days:
        plan.order(day, [(_CORE, 40.0)])
    if plan.behaviour == "seasonal":
        plan.intended |= {"seasonal_shopper", "repeat_buyer"}


def _dormant(plan: _Plan) -> None:
    """Twelve events in the first three days, then nothing."""
    for day in (0.2, 1.2, 2.2):
        plan.session(day, 4)
    plan.intended.add("dormant")


def _email(plan: _Plan) -> None:
    """Four opens and two clicks (a fan), or just two opens."""
    plan.session(14, 2)
    plan.session(26, 2)
    if plan.behaviour == "email_fan":
        for day, click in ((8, False), (14, True), (20, False), (26, True)):
            plan.email(day, click)
        plan.intended.add("email_engaged")
    else:
        plan.email(9)
        plan.email(19)


def _channels(plan: _Plan) -> None:
    """Visits on nine days in a row, with or without emails opened too."""
    for day in range(18, 27):
        plan.session(day + 0.3, 1)
    if plan.behaviour == "multichannel_fan":
        plan.email(20)
        plan.email(24)
        plan.intended.add("highly_engaged")


def _depth(plan: _Plan) -> None:
    """Long reads on the website, or short glances in the app, over four visits."""
    if plan.behaviour == "deep_reader":
        plan.platform, plan.reader = "web", True
        for day in (4, 9, 15, 22):
            plan.session(day, 5)
        plan.intended |= {"deep_engagement", "desktop_long_reads", "web_channel"}
    else:
        plan.platform = "ios" if plan.variant % 2 else "android"
        for day in (4, 9, 15, 22):
            plan.session(day, 3)
        plan.intended |= {"mobile_short_sessions", "app_channel", "mobile_user"}


def _consent(plan: _Plan) -> None:
    """Buyers and email readers who deny profiling, deny marketing, or withdraw profiling."""
    for day, click in ((3, True), (9, False), (15, False)):
        plan.email(day, click)
    for day in (2, 8, 14):
        plan.order(day, [(_CORE, 35.0)])
    if plan.behaviour == "denies_profiling":
        plan.consent["personalization"] = False
    elif plan.behaviour == "denies_marketing":
        plan.consent["marketing"] = False
        plan.session(PLANT_DAYS - 1.5, ["Product Detail"], [("Product Added", {
            "product_id": _CORE[0], "category": _CORE[1], "price": 49.0, "quantity": 1})])
        plan.intended.add("repeat_buyer")
    else:
        plan.withdrawn_at = plan.at(18)
        if plan.behaviour == "withdraws_then_visits":
            plan.session(21, 3)
            plan.session(25, 2)


_BEHAVIOURS: tuple[tuple[str, int], ...] = (
    ("newcomer", 9), ("cart_abandoner", 3), ("cart_recent", 2), ("cart_emptied", 2),
    ("cart_converted", 2), ("replenisher", 3), ("replenisher_due", 2), ("irregular_buyer", 2),
    ("big_spender", 3), ("accessory_buyer", 3), ("core_only_buyer", 2), ("seasonal", 3),
    ("off_season", 2), ("dormant", 3), ("email_fan", 3), ("email_lukewarm", 2),
    ("multichannel_fan", 3), ("single_channel_fan", 2), ("deep_reader", 3), ("app_snacker", 3),
    ("denies_profiling", 2), ("denies_marketing", 2), ("withdraws", 2),
    ("withdraws_then_visits", 2),
)
_PLANNERS: Mapping[str, Callable[[_Plan], None]] = {
    "newcomer": _newcomer, "cart_abandoner": _cart, "cart_recent": _cart, "cart_emptied": _cart,
    "cart_converted": _cart, "replenisher": _rhythm, "replenisher_due": _rhythm,
    "irregular_buyer": _rhythm, "big_spender": _spender, "accessory_buyer": _basket,
    "core_only_buyer": _basket, "seasonal": _season, "off_season": _season,
    "dormant": _dormant, "email_fan": _email, "email_lukewarm": _email,
    "multichannel_fan": _channels, "single_channel_fan": _channels, "deep_reader": _depth,
    "app_snacker": _depth, "denies_profiling": _consent, "denies_marketing": _consent,
    "withdraws": _consent, "withdraws_then_visits": _consent,
}


# -- the stream -----------------------------------------------------------------------------


def _items(subjects: Sequence[PlantedSubject] | Any, start: datetime,
           rng: random.Random) -> Iterator[StreamItem]:
    for subject in subjects:
        yield StreamItem(start, None, _update(subject, start, dict(subject.consent)))
        if subject.withdrawn_at is not None:
            yield StreamItem(subject.withdrawn_at, None,
                             _update(subject, subject.withdrawn_at, {"personalization": False}))
        for step in subject.steps:
            yield StreamItem(step.at, _message(subject, step, rng), None)


def _update(subject: PlantedSubject, at: datetime, purposes: dict[str, bool]) -> ConsentUpdate:
    return ConsentUpdate(subject_id=subject.user_id, captured_at=at, source="preference_center",
                         purposes=MappingProxyType(purposes), notice_version=NOTICE_VERSION)


def _message(subject: PlantedSubject, step: Step, rng: random.Random) -> dict[str, Any]:
    context: dict[str, Any] = {"ip": f"198.51.100.{rng.randint(1, 254)}"}
    if step.server:
        context["channel"] = "server"
    else:
        context |= {"channel": "mobile" if subject.mobile else "browser",
                    "device": {"type": subject.platform}, "locale": subject.locale,
                    "timezone": _ZONES[subject.locale]}
    message: dict[str, Any] = {
        "type": step.kind, "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "userId": subject.user_id, "timestamp": step.at.isoformat(timespec="milliseconds"),
        "context": context, "properties": dict(step.properties),
    }
    message["event" if step.kind == "track" else "name"] = step.name
    return message
