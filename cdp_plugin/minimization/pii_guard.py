"""The personal-data guard: find personal data in free text and replace each
finding by a type marker.

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

Text is normalized before it is scanned, so obfuscation does not hide a
finding: NFKC (full-width and mathematical letters and digits, no-break
spaces), zero-width and soft-hyphen characters removed, every script's
decimal digits read as ASCII digits, ``%40`` read as ``@`` and ``(dot)`` or
``[dot]`` as ``.``. When the normalized text holds a finding, the redacted
text returned is the normalized one; otherwise the text is returned as it was.
Mobile numbers written without separators are found in national formats
whose prefix only mobiles use (UK, France, the Netherlands, Germany, China).

Precision comes before coverage: a number is reported only when its shape and,
where one exists, its check digit say it is what it looks like. Dates, times,
prices, order and tracking numbers, versions, UUIDs and hashes are left alone;
numbers introduced as a reference ("SKU", "order no.", "EAN") are never taken
for card, phone or national id numbers. IPv6 addresses written without
any decimal digit (``fe::ab``) are not found: the fast path skips text that
has neither a digit nor an ``@`` (or a bracketed ``(at)``).

The patterns (:mod:`cdp_plugin.minimization.pii_patterns`) are compiled once,
at import; the checks are :mod:`cdp_plugin.minimization.pii_checks`.
:func:`redact` never raises for any ``str``.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable

from cdp_plugin.minimization.pii_checks import (
    IBAN_LENGTHS,
    NINO_BAD_PREFIXES,
    is_bsn_valid,
    is_card_number,
    is_dni_valid,
    is_iban_valid,
    is_ssn_valid,
)
from cdp_plugin.minimization.pii_patterns import (
    CARD_PATTERN,
    DIGIT,
    DNI_PATTERN,
    EMAIL_PATTERN,
    FILE_EXTENSIONS,
    IBAN_PATTERN,
    ID_KEYWORDS,
    IPV4_PATTERN,
    IPV6_PATTERN,
    KEYWORD_ID_PATTERN,
    LOOKBEHIND,
    NINO_PATTERN,
    PHONE_CUE,
    PHONE_INTL_PATTERN,
    PHONE_LOCAL_PATTERN,
    PHONE_MOBILE_PATTERN,
    PHONE_NANP_PATTERN,
    PHONE_TRUNK_PATTERN,
    SSN_PATTERN,
    VERSION_LABEL,
    after_reference,
)

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
        if match.group(1).lower() in FILE_EXTENSIONS:
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
        if not is_card_number(digits) or after_reference(match.string, match.start()):
            return text
        return self._hit(CARD)

    def ipv4(self, match: re.Match[str]) -> str:
        text = match.group(0)
        start = match.start()
        if VERSION_LABEL.search(match.string, max(0, start - LOOKBEHIND), start):
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
        if not is_ssn_valid(area, group, serial) or after_reference(match.string, match.start()):
            return match.group(0)
        return self._hit(NATIONAL_ID)

    def nino(self, match: re.Match[str]) -> str:
        prefix = match.group(1) + match.group(2)
        if prefix in NINO_BAD_PREFIXES or after_reference(match.string, match.start()):
            return match.group(0)
        return self._hit(NATIONAL_ID)

    def dni(self, match: re.Match[str]) -> str:
        first, rest, letter = match.groups()
        number = first + rest
        if not is_dni_valid(number, letter) or after_reference(match.string, match.start()):
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

    def phone_mobile(self, match: re.Match[str]) -> str:
        return self._phone(match, True)

    def phone_local(self, match: re.Match[str]) -> str:
        start = match.start()
        if PHONE_CUE.search(match.string, max(0, start - LOOKBEHIND), start) is None:
            return match.group(0)
        return self._hit(PHONE)

    def _phone(self, match: re.Match[str], valid: bool) -> str:
        if not valid or after_reference(match.string, match.start()):
            return match.group(0)
        return self._hit(PHONE)


def _always(text: str) -> bool:
    return True


def _names_an_id(text: str) -> bool:
    folded = text.lower()
    return any(keyword in folded for keyword in ID_KEYWORDS)


_DIGIT_CLUSTER = re.compile(r"\d(?:[ ./()+-]*\d){5}")
"""Six digits with nothing but separators between them. Every finding of the
detectors marked ``clustered`` below holds at least that: its digits are joined
only by spaces, dots, dashes, slashes, parentheses or a leading ``+``, and it has
6 digits (NINO, DNI/NIE) or more (phone 7 to 15, SSN, BSN and keyword ids 9,
card 13). Text without such a cluster (a price, a short order id) skips them;
``tests/test_pii.py`` checks the verdicts with and without this test agree."""

# (pattern, callback, a cheap test the text must pass for the pattern to be worth
# running, whether the text must also hold a digit cluster). Order matters: an
# address or account number is taken before its digits can be mistaken for a card
# or phone number, and markers hold no digits (so replacing one never makes a
# cluster).
_DETECTORS: tuple[tuple[re.Pattern[str], str, Callable[[str], bool], bool], ...] = (
    (IBAN_PATTERN, "iban", _always, False),
    (CARD_PATTERN, "card", _always, True),
    (IPV6_PATTERN, "ipv6", lambda text: ":" in text, False),
    (IPV4_PATTERN, "ipv4", lambda text: "." in text, False),
    (KEYWORD_ID_PATTERN, "keyword_id", _names_an_id, True),
    (SSN_PATTERN, "ssn", _always, True),
    (NINO_PATTERN, "nino", _always, True),
    (DNI_PATTERN, "dni", _always, True),
    (PHONE_INTL_PATTERN, "phone_intl", lambda text: "+" in text or "00" in text, True),
    (PHONE_NANP_PATTERN, "phone_nanp", _always, True),
    (PHONE_TRUNK_PATTERN, "phone_trunk", lambda text: "0" in text, True),
    (PHONE_MOBILE_PATTERN, "phone_mobile", _always, True),
    (PHONE_LOCAL_PATTERN, "phone_local", lambda text: "-" in text or "." in text, True),
)


# Characters that render as nothing (or only at a line break) and can split a finding.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062"
                                    "\u2063\u2064\ufeff"), None)
# Decimal digits of other scripts that NFKC leaves alone (Arabic-Indic, Persian,
# Devanagari, Bengali, Thai...): each script's zero, and the nine after it.
_DIGIT_ZEROS = (0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6,
                0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x17E0,
                0x1810, 0x1946, 0x19D0)
_DIGITS = {zero + n: str(n) for zero in _DIGIT_ZEROS for n in range(10)}
_SPELLED_DOT = re.compile(r"\s?[(\[]dot[)\]]\s?", re.IGNORECASE)


def _normalized(text: str) -> str:
    """``text`` as the scan sees it (see the module docstring)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_DIGITS)
    if "%40" in text:
        text = text.replace("%40", "@")
    if "dot" in text or "DOT" in text or "Dot" in text:
        text = _SPELLED_DOT.sub(".", text)
    return text


_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:?[0-9]{2})?")
"""ISO-8601 date-times, as every event carries several (``timestamp``, ``sentAt``...),
each one new: their longest digit run is six, shorter than every finding of a
digit-counting detector, and their only letters are ``T`` and ``Z``, so no
detector can report them (``tests/test_pii.py`` checks it against the full scan).
A longer fraction is scanned: ``...:02.48142464Z`` holds a valid Spanish DNI."""

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID_DETECTORS = (CARD_PATTERN, PHONE_INTL_PATTERN, DNI_PATTERN)
"""The only detectors that can match inside a UUID, as every event's ``messageId``
is, each one new. Every other detector either needs a character a UUID lacks
(``@``, ``.``, ``:``, a keyword, a space) or a run that does not fit its groups
(8-4-4-4-12 hex digits); these three may start only where no word character or
dash precedes them, which in a UUID is its first character alone. So a UUID none
of them matches at its start is clean (``tests/test_pii.py`` checks UUIDs of
every shape against the full scan)."""


def _clean_uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None and not any(
        pattern.match(text) for pattern in _UUID_DETECTORS)


_CLEAN: set[str] = set()
"""Texts already scanned and found clean (bounded; texts with findings are never kept)."""
_CLEAN_LIMIT = 16_384
_CLEAN_LONGEST = 256


def redact(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` with every finding replaced by its marker, and the sorted distinct types found.

    Text is normalized first (see the module docstring); text with neither a
    digit nor an ``@`` (nor ``(at)``) once normalized is returned as it is, at once.
    Short texts found clean are remembered, so the event names, currencies,
    locales and user agents that every event repeats are scanned once; a
    text with a finding is never remembered (the memo holds no personal data
    the guard knows of).
    """
    if text in _CLEAN or _TIMESTAMP.fullmatch(text) is not None or _clean_uuid(text):
        return text, ()
    normalized = _normalized(text)
    redacted, found = _redact(normalized)
    if found:
        return redacted, found
    if len(text) <= _CLEAN_LONGEST:
        if len(_CLEAN) >= _CLEAN_LIMIT:
            _CLEAN.clear()
        _CLEAN.add(text)
    return text, ()


def _redact(text: str) -> tuple[str, tuple[str, ...]]:
    """:func:`redact` on normalized text."""
    has_at = "@" in text or "at)" in text or "at]" in text
    has_digit = DIGIT.search(text) is not None
    if not has_at and not has_digit:
        return text, ()
    redaction = _Redaction()
    if has_at:
        text = EMAIL_PATTERN.sub(redaction.email, text)
        has_digit = DIGIT.search(text) is not None
    if has_digit:
        clustered = _DIGIT_CLUSTER.search(text) is not None
        for pattern, name, worth_running, needs_cluster in _DETECTORS:
            if (needs_cluster and not clustered) or not worth_running(text):
                continue
            callback: Callable[[re.Match[str]], str] = getattr(redaction, name)
            replaced = pattern.sub(callback, text)
            # One account number can hide the start of the next: look again until none is new.
            while pattern is IBAN_PATTERN and replaced != text:
                text, replaced = replaced, pattern.sub(callback, replaced)
            text = replaced
    return text, tuple(sorted(redaction.found))
