"""The fixed tables the synthetic stream draws from.

The privacy notice, the rates of noise and consent, locations, platforms, names,
the product catalogue, campaigns and session hours. Every personal value here
is fake by construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

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
