"""The patterns that find candidate personal data in free text, and the labels around them.

A match is only a candidate: the callbacks of :mod:`cdp_plugin.minimization.pii_guard`
confirm it with :mod:`cdp_plugin.minimization.pii_checks` and with the context
labels here (a reference such as "SKU", a version, a word naming a phone).
Compiled once, at import.
"""

from __future__ import annotations

import re

DIGIT = re.compile(r"\d")

# Each pattern starts by consuming one character of a small set and only then
# checks what precedes it, with a two-character lookbehind such as (?<![\w-].):
# a pattern that starts with a character set lets the regex engine skip straight
# to candidate positions, several times faster than a leading lookbehind.

# "@" or a bracketed "(at)"; an address spelled out in words ("jane at example dot com")
# is not found, since the same words occur in prose.
EMAIL_PATTERN = re.compile(
    r"[A-Za-z0-9](?<![\w.%+-].)[A-Za-z0-9_.%+-]{0,63}(?:@|\s?[(\[]at[)\]]\s?)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])"
)
# Retina image names (icon@2x.png) have the shape of an address.
FILE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "bmp", "ico",
                             "css", "js", "pdf", "mp4", "webm", "tiff"})

# Printed in groups of four, or run together; the callback cuts it to its country's length.
IBAN_PATTERN = re.compile(
    r"[A-Za-z](?<!\w.)[A-Za-z]\d{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)(?!\w)"
)

CARD_PATTERN = re.compile(
    r"[2-6](?<![\w+.,/-].)(?<!\d[ -].)(?:[ -]?\d){12,18}(?!\w|[ -]\d|[.,]\d)"
)

IPV4_PATTERN = re.compile(r"\d(?<![\w.].)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\d)")
IPV6_PATTERN = re.compile(
    r"[0-9A-Fa-f:](?<![\w:.].)"
    r"(?:(?<=:)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,6}"
    r"|(?<=[0-9A-Fa-f])[0-9A-Fa-f]{0,3}(?::[0-9A-Fa-f]{0,4}){2,7})"
    r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:.])"
)
# A four-part version ("version 4.2.1.0", "Chrome/120.0.0.0") reads like an IPv4 address;
# its label gives it away.
VERSION_LABEL = re.compile(
    r"(?i:\b(?:version|ver\.?|v|build|release|firmware|fw)\s*|[A-Za-z][\w.-]*/)\Z"
)

SSN_PATTERN = re.compile(
    r"(\d)(?<![\w-].)(?<!\d[ -].)(\d{2})([ -])(\d{2})\3(\d{4})(?!\w|[ -]\d)"
)
ID_KEYWORDS = ("ssn", "social security", "bsn", "burgerservicenummer", "sofinummer")
KEYWORD_ID_PATTERN = re.compile(
    r"(?i:\b(ssn|social security(?: number| no\.?| #)?|bsn|burgerservicenummer|sofinummer)\b)"
    r"([^\w\n]{0,6}(?:is|was|nr\.?|no\.?|number|nummer)?[^\w\n]{0,4})"
    r"(\d{4}\.?\d{2}\.?\d{3}|\d{3}\.?\d{3}\.?\d{3})(?![\w]|[.-]\d)"
)
NINO_PATTERN = re.compile(
    r"([A-CEGHJ-PR-TW-Z])(?<!\w.)([A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])(?!\w)"
)
DNI_PATTERN = re.compile(r"([XYZ0-9])(?<![\w-].)(\d{6,7})[ -]?([A-Z])(?!\w)")

# International: + or 00, country code, digit groups separated by single separators.
PHONE_INTL_PATTERN = re.compile(
    r"[+0](?:(?<=\+)(?<![\w+.-].)|(?<=0)(?<![\w+.-].)0)[1-9]\d*"
    r"(?:[ .-]?\(\d{1,4}\)[ .-]?\d+)?(?:[ .-]\d+)*(?!\w)"
)
# North American: (NXX) NXX-XXXX, NXX-NXX-XXXX or NXX/NXX-XXXX, optionally after a 1.
PHONE_NANP_PATTERN = re.compile(
    r"[1-9(](?<![\w+./-].)(?<!\d[ .-].)"
    r"(?:(?<=1)[ .-]?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ ./-])"
    r"|(?<=\()[2-9]\d{2}\)[ .-]?|(?<=[2-9])\d{2}[ ./-])"
    r"[2-9]\d{2}[ .-]\d{4}(?!\w|[.-]\d)"
)
# National with a trunk 0 and separators: 020 7946 0958, (030) 1234 5678.
PHONE_TRUNK_PATTERN = re.compile(
    r"[(0](?<![\w+.,/:-].)(?<!\d[ .-].)"
    r"(?:(?<=\()0\d{1,4}\)[ .-]?\d{2,8}(?:[ .-]\d{2,8}){0,3}|(?<=0)\d{1,4}(?:[ .-]\d{2,8}){1,4})"
    r"(?!\w|[.,:/-]\d)"
)
# Mobile numbers written without separators, in national formats whose prefix only
# mobiles use: UK 07xxx xxxxxx (11 digits), France and the Netherlands 06/07 (10),
# Germany 015x-017x (11 or 12), China 13x-19x (11). Anything else run together is
# too like an order or account number to call a phone. Only ASCII letters and digits
# bound it, so a number written straight after Chinese or Japanese text is found.
PHONE_MOBILE_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_+.,/:#-])(?:07[1-57-9]\d{8}|0[67]\d{8}|01[5-7]\d{8,9}|1[3-9]\d{9})"
    r"(?![A-Za-z0-9_.,/-])"
)
# Local 7-digit numbers only where a word just before says it is a phone number.
PHONE_LOCAL_PATTERN = re.compile(r"[2-9](?<![\w.-].)\d{2}[-.]\d{4}(?!\w|[.-]\d)")
PHONE_CUE = re.compile(
    r"(?i:\b(?:call(?:ing)?|phone|tel|telephone|mobile|cell|fax|text|sms|whatsapp|ring|dial)\b)"
    r"[^\d\n]{0,20}\Z"
)

# A number introduced as a reference ("SKU 123-45-6789", "order no. 020 1234 5678").
REFERENCE_LABEL = re.compile(
    r"(?i:\b(?:sku|part|item|model|ref|reference|order|invoice|inv|tracking|serial|product"
    r"|po|lot|batch|ticket|case|confirmation|receipt|shipment|parcel|waybill|article|art"
    r"|ean|gtin|upc|isbn|voucher|coupon|promo)"
    r"\.?-?\s*(?:no\.?|nr\.?|number|num|id|code|#)?\s*[:#]?\s*)\Z"
)
LOOKBEHIND = 32


def after_reference(text: str, start: int) -> bool:
    """Whether the match at ``start`` of ``text`` follows a reference label ("SKU", "order no.")."""
    return REFERENCE_LABEL.search(text, max(0, start - LOOKBEHIND), start) is not None
