"""IAB TCF v2 TC strings (TCF v2.2): decode, validate, and read the effective purposes.

A TC string is base64url segments joined by '.': the core segment first, then
optional segments each starting with a 3-bit type: 1 disclosed vendors,
2 allowed vendors, 3 publisher TC. Purposes, special features and vendors come
out as sorted tuples of 1-based IDs; times as aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_plugin.signals.bits import (
    BitReader,
    ConsentStringError,
    IdBudget,
    as_text,
    base64url_bits,
)

__all__ = [
    "LI_EXCLUDED_PURPOSES",
    "ConsentStringError",
    "PublisherRestriction",
    "TCString",
    "decode_tcf",
    "effective_li_purposes",
    "effective_purposes",
    "validate_tcf",
]

#: Purposes whose legitimate-interest bit is never honoured: purpose 1 is
#: consent-only under every policy, and TCF v2.2 withdrew LI for purposes 3-6.
LI_EXCLUDED_PURPOSES = frozenset({1, 3, 4, 5, 6})
#: Width of the purpose bitfields, so the largest purpose ID a string can carry.
PURPOSE_BITS = 24
#: Purposes and special features the v2.2 policy defines; bits beyond are unused.
DEFINED_PURPOSES = 11
DEFINED_SPECIAL_FEATURES = 2
#: First policy version of TCF v2.2.
POLICY_V22 = 4

RESTRICTION_TYPES = {0: "not_allowed", 1: "require_consent", 2: "require_legitimate_interest"}

_SEGMENT_NAMES = {1: "disclosed vendors", 2: "allowed vendors", 3: "publisher TC"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Vendor IDs are 16-bit; four full vendor lists plus restrictions fit well inside.
_MAX_EXPANDED_IDS = 1 << 19
# Shortest range entry: is_a_range (1) + a single 16-bit ID.
_MIN_ENTRY_BITS = 17
# Shortest publisher restriction: purpose (6) + type (2) + num_entries (12).
_MIN_RESTRICTION_BITS = 20


@dataclass(frozen=True, slots=True)
class PublisherRestriction:
    """A publisher's restriction of one purpose for some vendors."""

    purpose_id: int
    restriction_type: int
    vendor_ids: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"purpose_id": self.purpose_id, "restriction_type": self.restriction_type,
                "vendor_ids": list(self.vendor_ids)}


@dataclass(frozen=True, slots=True)
class TCString:
    """A decoded TC string. Optional segments that were absent are ``None``."""

    version: int
    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_opt_ins: tuple[int, ...]
    purposes_consent: tuple[int, ...]
    purposes_li_transparency: tuple[int, ...]
    purpose_one_treatment: bool
    publisher_cc: str
    vendor_consents: tuple[int, ...]
    vendor_legitimate_interests: tuple[int, ...]
    publisher_restrictions: tuple[PublisherRestriction, ...]
    vendors_disclosed: tuple[int, ...] | None = None
    vendors_allowed: tuple[int, ...] | None = None
    publisher_purposes_consent: tuple[int, ...] | None = None
    publisher_purposes_li_transparency: tuple[int, ...] | None = None
    custom_purposes_consent: tuple[int, ...] | None = None
    custom_purposes_li_transparency: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields under their snake_case spec names; times as ISO-8601 ``...Z``."""
        out: dict[str, Any] = {}
        for name in _TC_FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = _iso(value)
            elif name == "publisher_restrictions":
                value = [r.to_dict() for r in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


_TC_FIELDS = tuple(f.name for f in dataclass_fields(TCString))


def _iso(moment: datetime) -> str:
    # Whole seconds as the reference libraries print them; tenths as milliseconds.
    whole = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        return f"{whole}.{moment.microsecond // 1000:03d}Z"
    return f"{whole}Z"


def decode_tcf(text: str | bytes) -> TCString:
    """Decode a TCF v2 TC string.

    Accepts base64url with or without '=' padding, and the standard alphabet.
    Raises :class:`ConsentStringError` naming the segment and field when the
    string is not a well-formed version 2 TC string: bad base64, truncated
    fields, a version other than 2, vendor ID 0, a vendor range ending before
    it starts or past MaxVendorId, counts larger than the remaining bits can
    hold, unknown or repeated segments, or set bits after the last field.
    Policy rules are not checked here: see :func:`validate_tcf`.
    """
    segments = as_text(text, "TC string").split(".")
    if len(segments) > 1 + len(_SEGMENT_NAMES):
        raise ConsentStringError("TC string: more segments than the four segment types")
    budget = IdBudget(_MAX_EXPANDED_IDS)
    fields = _core(BitReader(base64url_bits(segments[0], "core segment"), "core segment"),
                   budget)
    seen: set[int] = set()
    for index, segment in enumerate(segments[1:], start=2):
        where = f"segment {index}"
        reader = BitReader(base64url_bits(segment, where), where)
        kind = reader.read_int(3, "segment_type")
        if kind not in _SEGMENT_NAMES:
            raise reader.error("segment_type", "not an optional segment type (1, 2 or 3)")
        if kind in seen:
            raise reader.error("segment_type", f"second {_SEGMENT_NAMES[kind]} segment")
        seen.add(kind)
        reader.where = f"{where} ({_SEGMENT_NAMES[kind]})"
        if kind == 1:
            fields["vendors_disclosed"] = _vendor_section(reader, "vendors_disclosed", budget)
        elif kind == 2:
            fields["vendors_allowed"] = _vendor_section(reader, "vendors_allowed", budget)
        else:
            fields.update(_publisher_tc(reader))
        reader.expect_padding()
    return TCString(**fields)


def _core(r: BitReader, budget: IdBudget) -> dict[str, Any]:
    version = r.read_int(6, "version")
    if version != 2:
        raise r.error("version", "unsupported TC string version (expected 2)")
    fields: dict[str, Any] = {
        "version": version,
        "created": _EPOCH + timedelta(milliseconds=100 * r.read_int(36, "created")),
        "last_updated": _EPOCH + timedelta(milliseconds=100 * r.read_int(36, "last_updated")),
        "cmp_id": r.read_int(12, "cmp_id"),
        "cmp_version": r.read_int(12, "cmp_version"),
        "consent_screen": r.read_int(6, "consent_screen"),
        "consent_language": r.read_letters(2, "consent_language"),
        "vendor_list_version": r.read_int(12, "vendor_list_version"),
        "policy_version": r.read_int(6, "policy_version"),
        "is_service_specific": r.read_bool("is_service_specific"),
        "use_non_standard_texts": r.read_bool("use_non_standard_texts"),
        "special_feature_opt_ins": r.read_bitfield(12, "special_feature_opt_ins"),
        "purposes_consent": r.read_bitfield(PURPOSE_BITS, "purposes_consent"),
        "purposes_li_transparency": r.read_bitfield(PURPOSE_BITS, "purposes_li_transparency"),
        "purpose_one_treatment": r.read_bool("purpose_one_treatment"),
        "publisher_cc": r.read_letters(2, "publisher_cc"),
    }
    fields["vendor_consents"] = _vendor_section(r, "vendor_consents", budget)
    fields["vendor_legitimate_interests"] = _vendor_section(
        r, "vendor_legitimate_interests", budget)
    # Some strings (one in iabtcf-java's own tests among them) end the core segment
    # before NumPubRestrictions; the reference decoders read that as none, as here.
    if r.remaining < 12:
        r.expect_padding("num_pub_restrictions")
        fields["publisher_restrictions"] = ()
        return fields
    fields["publisher_restrictions"] = _restrictions(r, budget)
    r.expect_padding()
    return fields


def _vendor_section(r: BitReader, field: str, budget: IdBudget) -> tuple[int, ...]:
    """MaxVendorId, IsRangeEncoding, then a bitfield or range entries."""
    max_id = r.read_int(16, f"{field}.max_vendor_id")
    if r.read_bool(f"{field}.is_range_encoding"):
        return _ranges(r, field, max_id, budget)
    ids = r.read_bitfield(max_id, field)
    budget.take(len(ids), r, field)
    return ids


def _ranges(r: BitReader, field: str, max_id: int | None,
            budget: IdBudget) -> tuple[int, ...]:
    """NumEntries then that many (IsARange, StartOrOnlyId[, EndId]) entries, expanded.

    IDs must be 1-based, each range in order, and (for vendor sections) at most
    ``max_id``. Overlapping entries are merged; the result is sorted.
    """
    count = r.read_int(12, f"{field}.num_entries")
    if count * _MIN_ENTRY_BITS > r.remaining:
        raise r.error(f"{field}.num_entries", "more entries than the remaining bits can hold")
    spans = r.read_id_ranges(count, field)
    for start, end in spans:
        if start == 0:
            raise r.error(field, "vendor ID 0 (IDs start at 1)")
        if end < start:
            raise r.error(field, "range end before its start")
        if max_id is not None and end > max_id:
            raise r.error(field, "vendor ID above max_vendor_id")
    spans.sort()
    ids: list[int] = []
    last = 0
    for start, end in spans:
        low = max(start, last + 1)
        if low <= end:
            budget.take(end - low + 1, r, field)
            ids.extend(range(low, end + 1))
            last = end
    return tuple(ids)


def _restrictions(r: BitReader, budget: IdBudget) -> tuple[PublisherRestriction, ...]:
    count = r.read_int(12, "num_pub_restrictions")
    if count * _MIN_RESTRICTION_BITS > r.remaining:
        raise r.error("num_pub_restrictions",
                      "more restrictions than the remaining bits can hold")
    out = []
    for index in range(1, count + 1):
        field = f"publisher_restrictions[{index}]"
        purpose_id = r.read_int(6, f"{field}.purpose_id")
        restriction_type = r.read_int(2, f"{field}.restriction_type")
        vendor_ids = _ranges(r, field, None, budget)
        out.append(PublisherRestriction(purpose_id, restriction_type, vendor_ids))
    return tuple(out)


def _publisher_tc(r: BitReader) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "publisher_purposes_consent": r.read_bitfield(PURPOSE_BITS, "pub_purposes_consent"),
        "publisher_purposes_li_transparency": r.read_bitfield(
            PURPOSE_BITS, "pub_purposes_li_transparency"),
    }
    custom = r.read_int(6, "num_custom_purposes")
    fields["custom_purposes_consent"] = r.read_bitfield(custom, "custom_purposes_consent")
    fields["custom_purposes_li_transparency"] = r.read_bitfield(
        custom, "custom_purposes_li_transparency")
    return fields


# --- policy --------------------------------------------------------------------------


def validate_tcf(tc: TCString) -> list[str]:
    """Problems that make ``tc`` invalid or partly ignored under TCF v2.2; empty if none.

    Each problem names the field and the rule. Problems marked "invalid" make
    :func:`effective_purposes` grant nothing; the others only say which signals
    are ignored or out of date.
    """
    problems = _blocking(tc)
    if tc.policy_version < POLICY_V22:
        problems.append("policy_version: below 4, the string predates TCF v2.2")
    li = set(tc.purposes_li_transparency)
    if 1 in li:
        problems.append("purposes_li_transparency: purpose 1 cannot rest on legitimate "
                        "interest; ignored")
    if li & (LI_EXCLUDED_PURPOSES - {1}):
        problems.append("purposes_li_transparency: TCF v2.2 allows no legitimate interest "
                        "for purposes 3, 4, 5 and 6; ignored")
    for name in ("purposes_consent", "purposes_li_transparency"):
        if any(p > DEFINED_PURPOSES for p in getattr(tc, name)):
            problems.append(f"{name}: bits set for undefined purposes "
                            f"(above {DEFINED_PURPOSES})")
    if any(f > DEFINED_SPECIAL_FEATURES for f in tc.special_feature_opt_ins):
        problems.append("special_feature_opt_ins: bits set for undefined special features "
                        f"(above {DEFINED_SPECIAL_FEATURES})")
    for index, restriction in enumerate(tc.publisher_restrictions, start=1):
        field = f"publisher_restrictions[{index}]"
        if not 1 <= restriction.purpose_id <= DEFINED_PURPOSES:
            problems.append(f"{field}.purpose_id: not a defined purpose")
        if restriction.restriction_type not in RESTRICTION_TYPES:
            problems.append(f"{field}.restriction_type: reserved value 3")
    if tc.last_updated < tc.created:
        problems.append("last_updated: earlier than created")
    return problems


def is_usable(tc: TCString) -> bool:
    """Whether the string may express consent at all (version 2, and service
    specific from policy version 4); an unusable string is no signal."""
    return not _blocking(tc)


def _blocking(tc: TCString) -> list[str]:
    problems = []
    if tc.version != 2:
        problems.append("version: invalid, must be 2")
    if tc.policy_version >= POLICY_V22 and not tc.is_service_specific:
        problems.append("is_service_specific: invalid, must be true from policy version 4 "
                        "(TCF v2.2 has no global scope)")
    return problems


def effective_li_purposes(tc: TCString) -> tuple[int, ...]:
    """The purposes whose legitimate-interest transparency counts: the signalled
    ones less :data:`LI_EXCLUDED_PURPOSES`."""
    return tuple(p for p in tc.purposes_li_transparency if p not in LI_EXCLUDED_PURPOSES)


def consented_purposes(tc: TCString) -> dict[int, bool]:
    """For each TCF purpose ID 1..24: did the user consent (legitimate interest
    left out)? Fails closed like :func:`effective_purposes`."""
    if _blocking(tc):
        return dict.fromkeys(range(1, PURPOSE_BITS + 1), False)
    return {p: p in tc.purposes_consent for p in range(1, PURPOSE_BITS + 1)}


def effective_purposes(tc: TCString) -> dict[int, bool]:
    """For each TCF purpose ID 1..24: does consent or an allowed legitimate interest apply?

    Fails closed: a string :func:`validate_tcf` calls invalid (version not 2, or
    policy version 4+ without ``is_service_specific``) grants no purpose. The
    v2.2 LI exclusions apply to every policy version, so an old string never
    grants more than a current one would.
    """
    if _blocking(tc):
        return dict.fromkeys(range(1, PURPOSE_BITS + 1), False)
    granted = set(tc.purposes_consent).union(effective_li_purposes(tc))
    return {p: p in granted for p in range(1, PURPOSE_BITS + 1)}
