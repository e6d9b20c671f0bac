"""IAB Global Privacy Platform (GPP) strings: the header, then sections joined by '~'.

The header is type 3, version 1, then the section IDs as a Fibonacci-coded
range list: NumRanges (12 bits), then per entry IsRange (1 bit), a Fibonacci
integer, and for a range a second one. Each integer is an offset from the
previous ID (the first from 0), so IDs come out strictly increasing. Sections
follow in header order. Section 2 (``tcfeuv2``) is decoded as a TC string,
6 (``uspv1``) as a US Privacy string, 7 (``usnat``) as the US national section;
other sections are kept as raw text with their ID and name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdp_plugin.signals.bits import BitReader, ConsentStringError, as_text, base64url_bits
from cdp_plugin.signals.tcf import TCString, decode_tcf
from cdp_plugin.signals.usnat import UsNat, decode_usnat

__all__ = [
    "SECTION_NAMES",
    "GPPHeader",
    "GPPSection",
    "GPPString",
    "UspV1",
    "decode_gpp",
    "decode_gpp_header",
    "decode_uspv1",
]

#: Section IDs and their client-side API prefixes, from the GPP section list.
SECTION_NAMES = {
    1: "tcfeuv1", 2: "tcfeuv2", 3: "header", 5: "tcfcav1", 6: "uspv1", 7: "usnat",
    8: "usca", 9: "usva", 10: "usco", 11: "usut", 12: "usct", 13: "usfl", 14: "usmt",
    15: "usor", 16: "ustx", 17: "usde", 18: "usia", 19: "usne", 20: "usnh", 21: "usnj",
    22: "ustn", 23: "usmn", 24: "usmd", 25: "usin", 26: "usky", 27: "usri",
}
HEADER_TYPE = 3
HEADER_VERSION = 1
# A header decoded on its own has no sections to bound its ID list; this does.
_MAX_HEADER_ONLY_IDS = 256
# Shortest range-list entry: IsRange (1) + the Fibonacci code "11".
_MIN_ENTRY_BITS = 3
_USP_FLAGS = ("notice", "opt_out_sale", "lspa_covered")


@dataclass(frozen=True, slots=True)
class GPPHeader:
    """The decoded header: GPP version and the section IDs, ascending."""

    version: int
    section_ids: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"type": HEADER_TYPE, "version": self.version,
                "section_ids": list(self.section_ids)}


@dataclass(frozen=True, slots=True)
class UspV1:
    """A US Privacy (CCPA) string: version 1 and three 'Y' / 'N' / '-' flags."""

    version: int
    notice: str
    opt_out_sale: str
    lspa_covered: str

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "notice": self.notice,
                "opt_out_sale": self.opt_out_sale, "lspa_covered": self.lspa_covered}


@dataclass(frozen=True, slots=True)
class GPPSection:
    """One section: its ID, API prefix (``None`` if unknown), raw text and, for the
    sections this module reads, the decoded value."""

    id: int
    name: str | None
    raw: str
    decoded: TCString | UsNat | UspV1 | None = None

    def to_dict(self) -> dict[str, Any]:
        """``fields`` for a decoded section, ``raw`` for one kept as text."""
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.decoded is None:
            out["raw"] = self.raw
        else:
            out["fields"] = self.decoded.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class GPPString:
    """A decoded GPP string: the header's version and IDs, and the sections in order."""

    version: int
    section_ids: tuple[int, ...]
    sections: tuple[GPPSection, ...]

    def section(self, key: int | str) -> GPPSection | None:
        """The section with this ID or API prefix (``"usnat"``), or ``None``."""
        for section in self.sections:
            if key in (section.id, section.name):
                return section
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": HEADER_TYPE, "version": self.version,
                "section_ids": list(self.section_ids),
                "sections": [s.to_dict() for s in self.sections]}


def decode_gpp(text: str | bytes) -> GPPString:
    """Decode a GPP string: header, then one section per header ID, in header order.

    Raises :class:`ConsentStringError` naming the header field or the section
    (ID and name) that failed: bad base64, a header type other than 3 or
    version other than 1, a truncated ID list, a section count that differs
    from the header's, or any error from a decoded section.
    """
    parts = as_text(text, "GPP string").split("~")
    header = _header(parts[0], limit=len(parts) - 1)
    if len(header.section_ids) != len(parts) - 1:
        raise ConsentStringError("gpp header: section_ids: the header lists fewer sections "
                                 "than the string carries")
    sections = tuple(_section(sid, raw) for sid, raw in zip(header.section_ids, parts[1:],
                                                            strict=True))
    return GPPString(header.version, header.section_ids, sections)


def decode_gpp_header(text: str | bytes) -> GPPHeader:
    """Decode a GPP header on its own (the text before the first '~').

    Raises :class:`ConsentStringError` as :func:`decode_gpp` does for the header.
    """
    return _header(as_text(text, "GPP header"), limit=_MAX_HEADER_ONLY_IDS)


def _header(segment: str, limit: int) -> GPPHeader:
    r = BitReader(base64url_bits(segment, "gpp header"), "gpp header")
    if r.read_int(6, "type") != HEADER_TYPE:
        raise r.error("type", "not a GPP header (expected type 3)")
    version = r.read_int(6, "version")
    if version != HEADER_VERSION:
        raise r.error("version", "unsupported GPP version (expected 1)")
    ids = _section_ids(r, limit)
    r.expect_padding()
    return GPPHeader(version, ids)


def _section_ids(r: BitReader, limit: int) -> tuple[int, ...]:
    count = r.read_int(12, "section_ids.num_ranges")
    if count * _MIN_ENTRY_BITS > r.remaining:
        raise r.error("section_ids.num_ranges", "more entries than the remaining bits can hold")
    ids: list[int] = []
    last = 0
    for _ in range(count):
        is_range = r.read_bool("section_ids.is_range")
        start = last + r.read_fibonacci("section_ids.start")
        end = start + r.read_fibonacci("section_ids.end") if is_range else start
        # Offsets are at least 1, so IDs only grow; bound the count, not the values.
        if len(ids) + end - start + 1 > limit:
            raise r.error("section_ids", "lists more sections than the string carries")
        ids.extend(range(start, end + 1))
        last = end
    return tuple(ids)


def _section(section_id: int, raw: str) -> GPPSection:
    name = SECTION_NAMES.get(section_id)
    where = f"gpp section {section_id} ({name or 'unknown'})"
    decoded: TCString | UsNat | UspV1 | None = None
    try:
        if section_id == 2:
            decoded = decode_tcf(raw)
        elif section_id == 6:
            decoded = decode_uspv1(raw)
        elif section_id == 7:
            decoded = decode_usnat(raw)
    except ConsentStringError as exc:
        raise ConsentStringError(f"{where}: {exc}") from None
    return GPPSection(section_id, name, raw, decoded)


def decode_uspv1(text: str | bytes) -> UspV1:
    """Decode a US Privacy string such as ``1YNN``: version '1' then notice,
    opt-out of sale and LSPA coverage, each 'Y', 'N' or '-' (not applicable).

    Raises :class:`ConsentStringError` naming the field that is malformed.
    """
    value = as_text(text, "uspv1")
    if len(value) != 4:
        raise ConsentStringError("uspv1: expected 4 characters")
    if value[0] != "1":
        raise ConsentStringError("uspv1: version: unsupported (expected 1)")
    for name, flag in zip(_USP_FLAGS, value[1:], strict=True):
        if flag not in "YN-":
            raise ConsentStringError(f"uspv1: {name}: expected Y, N or -")
    return UspV1(1, value[1], value[2], value[3])
