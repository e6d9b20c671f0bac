"""Checks that tell a real identifier from a number of the same shape.

Check digits (Luhn, the IBAN mod-97, the Dutch BSN 11-check, the Spanish DNI
letter) and issuable ranges (US SSNs, UK National Insurance prefixes, card
issuer prefixes by length). Each check answers True only when the text is
what it looks like; the patterns that find the candidates are
:mod:`cdp_plugin.minimization.pii_patterns`.
"""

from __future__ import annotations


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


NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
"""Two-letter prefixes never issued for a UK National Insurance number."""

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
