"""Find personal data in free text and replace each finding by a type marker.

:func:`redact` finds, in this order, each replaced before the next is looked for:

* ``email``: addresses ``local@domain.tld`` or ``local(at)domain.tld`` (not image
  names such as ``logo@2x.png``);
* ``iban``: ISO 13616 account numbers whose length fits their country and whose
  mod-97 check holds, with or without spaces;
* ``card``: 13 to 19 digits, optionally grouped by spaces or dashes, with a
  known issuer prefix for that length and a valid Luhn check digit;
* ``ip``: IPv4 and IPv6 addresses that :mod:`ipaddress` accepts (not a
  four-part version number such as ``version 4.2.1.0``);
* ``national_id``: US Social Security numbers in issuable ranges, UK National
  Insurance numbers with a valid prefix, Spanish DNI and NIE with a valid check
  letter, and 9-digit SSNs and Dutch BSNs (11-check) after a keyword naming them;
* ``phone``: international numbers (``+`` or ``00``, 8 to 15 digits), North
  American numbers ``(NXX) NXX-XXXX``, national numbers with a trunk ``0`` and
  separators (10 to 12 digits), and 7-digit local numbers after a word such as
  "call" or "phone".

Precision comes before coverage: a number is reported only when its shape and,
where one exists, its check digit say it is what it looks like. Dates, times,
prices, order and tracking numbers, versions, UUIDs and hashes are left alone;
numbers introduced as a reference ("SKU", "order no.", "EAN") are never taken
for card, phone or national id numbers. IPv6 addresses written without
any decimal digit (``fe::ab``) are not found: the fast path skips text that
has neither a digit nor an ``@`` (or a bracketed ``(at)``).

Patterns are compiled once, at import. :func:`redact` never raises for any
``str``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

EMAIL = "email"
PHONE = "phone"
CARD = "card"
IBAN = "iban"
IP = "ip"
NATIONAL_ID = "national_id"
PII_TYPES: tuple[str, ...] = (EMAIL, PHONE, CARD, IBAN, IP, NATIONAL_ID)
"""Every type :func:`redact` reports."""


def marker(kind: str) -> str:
    """The text that replaces a finding of type ``kind``: ``[REDACTED:email]``."""
    return f"[REDACTED:{kind}]"


# -- check digits -------------------------------------------------------------------------------


def is_luhn_valid(digits: str) -> bool:
    """Whether the decimal string ``digits`` ends in a valid Luhn check digit."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
"""IBAN length by country (ISO 13616 registry); a country not listed has no IBAN."""


def is_iban_valid(text: str) -> bool:
    """Whether ``text`` (spaces allowed, any case) is an IBAN: known country,
    that country's length, and the ISO 7064 mod-97-10 check."""
    compact = text.replace(" ", "").upper()
    if not compact.isascii() or not compact.isalnum():
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    # Letters count as 10..35; int() of the joined string does the big arithmetic.
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def is_ssn_valid(area: str, group: str, serial: str) -> bool:
    """Whether a US SSN ``AAA-GG-SSSS`` lies in the issuable ranges: area not
    000, 666 or 900-999, group not 00, serial not 0000."""
    if len(area) != 3 or len(group) != 2 or len(serial) != 4:
        return False
    if not (area + group + serial).isdigit():
        return False
    return (area not in ("000", "666") and area[0] != "9"
            and group != "00" and serial != "0000")


def is_bsn_valid(digits: str) -> bool:
    """Whether nine digits pass the Dutch BSN 11-check (weights 9..2, then -1)."""
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def is_dni_valid(number: str, letter: str) -> bool:
    """Whether a Spanish DNI (8 digits) or NIE (X/Y/Z then 7 digits) has its check letter."""
    if number[:1] in ("X", "Y", "Z"):
        number = str("XYZ".index(number[0])) + number[1:]
    if len(number) != 8 or not number.isdigit():
        return False
    return _DNI_LETTERS[int(number) % 23] == letter.upper()


_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})

# (first digits, lengths): issuer prefixes of the card schemes in use.
_CARD_RANGES: tuple[tuple[tuple[str, ...], frozenset[int]], ...] = (
    (("4",), frozenset({13, 16, 19})),                                         # Visa
    (("51", "52", "53", "54", "55"), frozenset({16})),                         # Mastercard
    (tuple(str(n) for n in range(2221, 2721)), frozenset({16})),               # Mastercard 2-series
    (("34", "37"), frozenset({15})),                                           # Amex
    (("6011", "644", "645", "646", "647", "648", "649", "65"),
     frozenset(range(16, 20))),                                                # Discover
    (("300", "301", "302", "303", "304", "305", "36", "38", "39"),
     frozenset(range(14, 20))),                                                # Diners
    (tuple(str(n) for n in range(3528, 3590)), frozenset(range(16, 20))),      # JCB
    (("62",), frozenset(range(16, 20))),                                       # UnionPay
    (("2200", "2201", "2202", "2203", "2204"), frozenset(range(16, 20))),      # Mir
    (("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"),
     frozenset(range(13, 20))),                                                # Maestro
)


def is_card_number(digits: str) -> bool:
    """Whether ``digits`` has a known issuer prefix for its length and a valid Luhn digit."""
    length = len(digits)
    known = any(length in lengths and digits.startswith(prefixes)
                for prefixes, lengths in _CARD_RANGES)
    return known and is_luhn_valid(digits)


# -- patterns -------------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")

# Each pattern starts by consuming one character of a small set and only then
# checks what precedes it, with a two-character lookbehind such as (?<![\w-].):
# a pattern that starts with a character set lets the regex engine skip straight
# to candidate positions, several times faster than a leading lookbehind.

# "@" or a bracketed "(at)"; an address spelled out in words ("jane at example dot com")
# is not found, since the same words occur in prose.
_EMAIL = re.compile(
    r"[A-Za-z0-9](?<![\w.%+-].)[A-Za-z0-9_.%+-]{0,63}(?:@|\s?[(\[]at[)\]]\s?)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])"
)
# Retina image names (icon@2x.png) have the shape of an address.
_FILE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "bmp", "ico",
                              "css", "js", "pdf", "mp4", "webm", "tiff"})

# Printed in groups of four, or run together; the callback cuts it to its country's length.
_IBAN = re.compile(
    r"[A-Za-z](?<!\w.)[A-Za-z]\d{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)(?!\w)"
)

_CARD = re.compile(r"[2-6](?<![\w+.,/-].)(?<!\d[ -].)(?:[ -]?\d){12,18}(?!\w|[ -]\d|[.,]\d)")

_IPV4 = re.compile(r"\d(?<![\w.].)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(
    r"[0-9A-Fa-f:](?<![\w:.].)"
    r"(?:(?<=:)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,6}"
    r"|(?<=[0-9A-Fa-f])[0-9A-Fa-f]{0,3}(?::[0-9A-Fa-f]{0,4}){2,7})"
    r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:.])"
)
# A four-part version ("version 4.2.1.0", "Chrome/120.0.0.0") reads like an IPv4 address;
# its label gives it away.
_VERSION_LABEL = re.compile(
    r"(?i:\b(?:version|ver\.?|v|build|release|firmware|fw)\s*|[A-Za-z][\w.-]*/)\Z"
)

_SSN = re.compile(r"(\d)(?<![\w-].)(?<!\d[ -].)(\d{2})([ -])(\d{2})\3(\d{4})(?!\w|[ -]\d)")
_ID_KEYWORDS = ("ssn", "social security", "bsn", "burgerservicenummer", "sofinummer")
_KEYWORD_ID = re.compile(
    r"(?i:\b(ssn|social security(?: number| no\.?| #)?|bsn|burgerservicenummer|sofinummer)\b)"
    r"([^\w\n]{0,6}(?:is|was|nr\.?|no\.?|number|nummer)?[^\w\n]{0,4})"
    r"(\d{4}\.?\d{2}\.?\d{3}|\d{3}\.?\d{3}\.?\d{3})(?![\w]|[.-]\d)"
)
_NINO = re.compile(
    r"([A-CEGHJ-PR-TW-Z])(?<!\w.)([A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])(?!\w)"
)
_DNI = re.compile(r"([XYZ0-9])(?<![\w-].)(\d{6,7})[ -]?([A-Z])(?!\w)")

# International: + or 00, country code, digit groups separated by single separators.
_PHONE_INTL = re.compile(
    r"[+0](?:(?<=\+)(?<![\w+.-].)|(?<=0)(?<![\w+.-].)0)[1-9]\d*"
    r"(?:[ .-]?\(\d{1,4}\)[ .-]?\d+)?(?:[ .-]\d+)*(?!\w)"
)
# North American: (NXX) NXX-XXXX, NXX-NXX-XXXX or NXX/NXX-XXXX, optionally after a 1.
_PHONE_NANP = re.compile(
    r"[1-9(](?<![\w+./-].)(?<!\d[ .-].)"
    r"(?:(?<=1)[ .-]?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ ./-])"
    r"|(?<=\()[2-9]\d{2}\)[ .-]?|(?<=[2-9])\d{2}[ ./-])"
    r"[2-9]\d{2}[ .-]\d{4}(?!\w|[.-]\d)"
)
# National with a trunk 0 and separators: 020 7946 0958, (030) 1234 5678.
_PHONE_TRUNK = re.compile(
    r"[(0](?<![\w+.,/:-].)(?<!\d[ .-].)"
    r"(?:(?<=\()0\d{1,4}\)[ .-]?\d{2,8}(?:[ .-]\d{2,8}){0,3}|(?<=0)\d{1,4}(?:[ .-]\d{2,8}){1,4})"
    r"(?!\w|[.,:/-]\d)"
)
# Local 7-digit numbers only where a word just before says it is a phone number.
_PHONE_LOCAL = re.compile(r"[2-9](?<![\w.-].)\d{2}[-.]\d{4}(?!\w|[.-]\d)")
_PHONE_CUE = re.compile(
    r"(?i:\b(?:call(?:ing)?|phone|tel|telephone|mobile|cell|fax|text|sms|whatsapp|ring|dial)\b)"
    r"[^\d\n]{0,20}\Z"
)

# A number introduced as a reference ("SKU 123-45-6789", "order no. 020 1234 5678").
_REFERENCE_LABEL = re.compile(
    r"(?i:\b(?:sku|part|item|model|ref|reference|order|invoice|inv|tracking|serial|product"
    r"|po|lot|batch|ticket|case|confirmation|receipt|shipment|parcel|waybill|article|art"
    r"|ean|gtin|upc|isbn|voucher|coupon|promo)"
    r"\.?-?\s*(?:no\.?|nr\.?|number|num|id|code|#)?\s*[:#]?\s*)\Z"
)
_LOOKBEHIND = 32


def _after_reference(text: str, start: int) -> bool:
    return _REFERENCE_LABEL.search(text, max(0, start - _LOOKBEHIND), start) is not None


# -- one redaction --------------------------------------------------------------------------------


class _Redaction:
    """The replacement callbacks of one :func:`redact` call and the types they found.

    Each callback returns the matched text unchanged when a check fails.
    """

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: set[str] = set()

    def _hit(self, kind: str) -> str:
        self.found.add(kind)
        return marker(kind)

    def email(self, match: re.Match[str]) -> str:
        if match.group(1).lower() in _FILE_EXTENSIONS:
            return match.group(0)
        return self._hit(EMAIL)

    def iban(self, match: re.Match[str]) -> str:
        # The pattern may run on into a following word; the country fixes the length.
        text = match.group(0)
        length = IBAN_LENGTHS.get(text[:2].upper())
        if length is None:
            return text
        kept = [index for index, char in enumerate(text) if char != " "]
        if len(kept) < length:
            return text
        end = kept[length - 1] + 1
        rest = text[end:]
        if rest[:1].isalnum() or not is_iban_valid(text[:end]):
            return text
        return self._hit(IBAN) + rest

    def card(self, match: re.Match[str]) -> str:
        text = match.group(0)
        separators = {char for char in text if not char.isdigit()}
        if len(separators) > 1:
            return text
        if separators:
            groups = text.split(separators.pop())
            # 4-4-4-4, 4-6-5, 4-4-5 and the like: never a short group inside.
            if len(groups[0]) != 4 or any(not 3 <= len(group) <= 6 for group in groups[1:-1]):
                return text
        digits = "".join(char for char in text if char.isdigit())
        if not is_card_number(digits) or _after_reference(match.string, match.start()):
            return text
        return self._hit(CARD)

    def ipv4(self, match: re.Match[str]) -> str:
        text = match.group(0)
        start = match.start()
        if _VERSION_LABEL.search(match.string, max(0, start - _LOOKBEHIND), start):
            return text
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return text
        return self._hit(IP)

    def ipv6(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if not any(char.isalnum() for char in text):
            return text
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return text
        return self._hit(IP)

    def keyword_id(self, match: re.Match[str]) -> str:
        keyword, between, number = match.groups()
        digits = number.replace(".", "")
        if keyword.lower().startswith(("ssn", "social")):
            valid = is_ssn_valid(digits[:3], digits[3:5], digits[5:])
        else:
            valid = is_bsn_valid(digits)
        return keyword + between + self._hit(NATIONAL_ID) if valid else match.group(0)

    def ssn(self, match: re.Match[str]) -> str:
        first, rest, _, group, serial = match.groups()
        area = first + rest
        if not is_ssn_valid(area, group, serial) or _after_reference(match.string, match.start()):
            return match.group(0)
        return self._hit(NATIONAL_ID)

    def nino(self, match: re.Match[str]) -> str:
        prefix = match.group(1) + match.group(2)
        if prefix in _NINO_BAD_PREFIXES or _after_reference(match.string, match.start()):
            return match.group(0)
        return self._hit(NATIONAL_ID)

    def dni(self, match: re.Match[str]) -> str:
        first, rest, letter = match.groups()
        number = first + rest
        if not is_dni_valid(number, letter) or _after_reference(match.string, match.start()):
            return match.group(0)
        return self._hit(NATIONAL_ID)

    def phone_intl(self, match: re.Match[str]) -> str:
        text = match.group(0)
        # A "(0)" trunk digit is written after the country code but not dialled.
        digits = sum(char.isdigit() for char in text) - text.count("(0)")
        if text.startswith("00"):
            digits -= 2
        return self._phone(match, 8 <= digits <= 15)

    def phone_nanp(self, match: re.Match[str]) -> str:
        return self._phone(match, True)

    def phone_trunk(self, match: re.Match[str]) -> str:
        return self._phone(match, 10 <= sum(char.isdigit() for char in match.group(0)) <= 12)

    def phone_local(self, match: re.Match[str]) -> str:
        start = match.start()
        if _PHONE_CUE.search(match.string, max(0, start - _LOOKBEHIND), start) is None:
            return match.group(0)
        return self._hit(PHONE)

    def _phone(self, match: re.Match[str], valid: bool) -> str:
        if not valid or _after_reference(match.string, match.start()):
            return match.group(0)
        return self._hit(PHONE)


def _always(text: str) -> bool:
    return True


def _names_an_id(text: str) -> bool:
    folded = text.lower()
    return any(keyword in folded for keyword in _ID_KEYWORDS)


# (pattern, callback, a cheap test the text must pass for the pattern to be worth running).
# Order matters: an address or account number is taken before its digits can be
# mistaken for a card or phone number, and markers hold no digits.
_DETECTORS: tuple[tuple[re.Pattern[str], str, Callable[[str], bool]], ...] = (
    (_IBAN, "iban", _always),
    (_CARD, "card", _always),
    (_IPV6, "ipv6", lambda text: ":" in text),
    (_IPV4, "ipv4", lambda text: "." in text),
    (_KEYWORD_ID, "keyword_id", _names_an_id),
    (_SSN, "ssn", _always),
    (_NINO, "nino", _always),
    (_DNI, "dni", _always),
    (_PHONE_INTL, "phone_intl", lambda text: "+" in text or "00" in text),
    (_PHONE_NANP, "phone_nanp", _always),
    (_PHONE_TRUNK, "phone_trunk", lambda text: "0" in text),
    (_PHONE_LOCAL, "phone_local", lambda text: "-" in text or "." in text),
)


def redact(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` with every finding replaced by its marker, and the sorted distinct types found.

    Text with neither a digit nor an ``@`` (nor ``(at)``) is returned as it is, at once.
    """
    has_at = "@" in text or "at)" in text or "at]" in text
    has_digit = _DIGIT.search(text) is not None
    if not has_at and not has_digit:
        return text, ()
    redaction = _Redaction()
    if has_at:
        text = _EMAIL.sub(redaction.email, text)
        has_digit = _DIGIT.search(text) is not None
    if has_digit:
        for pattern, name, worth_running in _DETECTORS:
            if not worth_running(text):
                continue
            callback: Callable[[re.Match[str]], str] = getattr(redaction, name)
            replaced = pattern.sub(callback, text)
            # One account number can hide the start of the next: look again until none is new.
            while pattern is _IBAN and replaced != text:
                text, replaced = replaced, pattern.sub(callback, replaced)
            text = replaced
    return text, tuple(sorted(redaction.found))


def detect(text: str) -> tuple[str, ...]:
    """The sorted distinct types of personal data found in ``text``."""
    return redact(text)[1]
