"""Per-subject timelines: sessions by persona, their steps, times and consent updates.
"""

from __future__ import annotations

import heapq
import random
import uuid
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from cdp_plugin.synthetic.campaigns import _sale_window
from cdp_plugin.synthetic.data import (
    _ACCESSORIES,
    _COMMENTS,
    _CORE,
    _FEATURES,
    _GUIDES,
    _HOURS,
    _PREFERENCE_CENTER,
    _PROOF,
    _PURPOSES,
    _SALE,
    _SITE,
    _WITHDRAWAL,
    NOTICE_VERSION,
    Product,
)
from cdp_plugin.synthetic.model import _Campaign, _iso, _ms, _Planned, _Step
from cdp_plugin.synthetic.subjects import _make_subject
from cdp_plugin.types import ConsentUpdate


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
