"""Consent-manager vocabularies: the category ids real CMPs put in events.

``purposes.yaml`` names the presets it wants under ``signals.presets``; their
entries are merged into ``signals.segment_categories`` (which also reads
RudderStack's ``consentManagement`` ids). Every id is matched
case-insensitively. Precedence, lowest first: each defined purpose's own
name (``marketing`` means ``marketing``), then the presets in the order
listed, then the file's own ``segment_categories``, so an operator can
always narrow or widen a preset's mapping.

Each preset covers the ids a CMP ships by default. Custom categories are
named by each organisation and must be listed in ``segment_categories``.
The reasoning behind every mapping is in the README ("Consent managers").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_Preset = Mapping[str, tuple[str, ...]]

ONETRUST: _Preset = {
    # OneTrust Cookie Consent's default groups (OptanonActiveGroups ids).
    "C0001": ("necessary",),           # Strictly Necessary Cookies
    "C0002": ("analytics",),           # Performance Cookies
    "C0003": ("personalization",),     # Functional Cookies
    # Targeting Cookies: "build a profile of your interests and show you relevant
    # adverts". Interest-based messages from our ESP are that profile's use too, so
    # the group speaks for marketing as well; a denial withdraws both.
    "C0004": ("advertising", "marketing"),
    "C0005": ("advertising",),         # Social Media Cookies
    "SPD_BG": ("advertising",),        # Sale of Personal Data (US templates)
    "Strictly Necessary Cookies": ("necessary",),
    "Performance Cookies": ("analytics",),
    "Functional Cookies": ("personalization",),
    "Targeting Cookies": ("advertising", "marketing"),
    "Social Media Cookies": ("advertising",),
}

OSANO: _Preset = {
    # Osano's consent categories (the keys of ``Osano.cm.getConsent()``).
    "ESSENTIAL": ("necessary",),
    "STORAGE": ("necessary",),         # storage needed to remember the choice itself
    "ANALYTICS": ("analytics",),
    "PERSONALIZATION": ("personalization",),
    # Osano's "Marketing" is advertising and remarketing; our marketing purpose is
    # the direct use of the same interest data, so it follows the same answer.
    "MARKETING": ("marketing", "advertising"),
    # OPT_OUT is left out on purpose: there ACCEPT records an opt-out of sale and
    # sharing, the inverse of every other category, so reading it as a grant would
    # turn a refusal into consent. It is reported as unmapped.
}

KETCH: _Preset = {
    # Purpose codes of Ketch's standard purpose templates.
    "essential_services": ("necessary",),
    "analytics": ("analytics",),
    "personalization": ("personalization",),
    "behavioral_advertising": ("advertising",),
    "targeted_advertising": ("advertising",),
    "data_sales": ("advertising",),
    "email_marketing": ("marketing",),
    "email_mktg": ("marketing",),
    "sms_marketing": ("marketing",),
}

TRUSTARC: _Preset = {
    # TrustArc CCM's three default buckets, as Segment's TrustArc wrapper names them
    # (ta-1 required, ta-2 functional, ta-3 advertising) and by their titles.
    "ta-1": ("necessary",),
    "ta-2": ("personalization", "analytics"),
    "ta-3": ("advertising", "marketing"),
    "Required Cookies": ("necessary",),
    "Functional Cookies": ("personalization", "analytics"),
    "Advertising Cookies": ("advertising", "marketing"),
}

DIDOMI: _Preset = {
    # Didomi's ids for the IAB TCF purposes, mapped as ``tcf_purposes`` maps them.
    "cookies": ("necessary",),                      # purpose 1
    "select_basic_ads": ("advertising",),           # 2
    "create_ads_profile": ("advertising",),         # 3
    "select_personalized_ads": ("advertising",),    # 4
    "create_content_profile": ("personalization",),  # 5
    "select_personalized_content": ("personalization",),  # 6
    "measure_ad_performance": ("analytics",),       # 7
    "measure_content_performance": ("analytics",),  # 8
    "market_research": ("analytics",),              # 9
    "improve_products": ("analytics",),             # 10
}

PRESETS: Mapping[str, _Preset] = MappingProxyType({
    "onetrust": ONETRUST,
    "osano": OSANO,
    "ketch": KETCH,
    "trustarc": TRUSTARC,
    "didomi": DIDOMI,
})
"""Preset name (as ``signals.presets`` lists it) -> category id -> purposes."""


def category_key(name: str) -> str:
    """How a category id is compared: case-folded, outer spaces ignored."""
    return name.strip().casefold()


def category_map(purposes: list[str], presets: list[str],
                 explicit: Mapping[str, list[str]]) -> dict[str, frozenset[str]]:
    """The merged, case-folded category map (precedence as in the module doc).

    Presets naming a purpose the rules do not define contribute only the
    purposes that are defined: a preset must never make a rules file invalid.
    """
    merged: dict[str, frozenset[str]] = {category_key(p): frozenset((p,)) for p in purposes}
    defined = set(purposes)
    for name in presets:
        for category, mapped in PRESETS[name].items():
            kept = frozenset(p for p in mapped if p in defined)
            if kept:
                merged[category_key(category)] = kept
    for category, listed in explicit.items():
        merged[category_key(category)] = frozenset(listed)
    return merged
