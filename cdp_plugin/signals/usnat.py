"""The GPP US national section (``usnat``, section 7), versions 1 and 2.

A core subsection of 2-bit fields, optionally followed by '.' and a GPC
subsection (subsection type 1, one GPC bit). Values are kept as encoded:
0 = not applicable, 1 = yes / opted out / no consent, 2 = no / did not opt out /
consent (the exact meaning per field is in the MSPA usnat specification).
Version 2 widened sensitive-data processing from 12 to 16 categories and the
known-child consents from 2 to 3. A version 1 core long enough for the version 2
lists (as one release of the reference encoders wrote) is read with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from cdp_plugin.signals.bits import BitReader, ConsentStringError, as_text, base64url_bits

__all__ = ["UsNat", "decode_usnat", "validate_usnat"]

# version -> (sensitive_data_processing count, known_child_sensitive_data_consents count)
_LIST_LENGTHS = {1: (12, 2), 2: (16, 3)}
_GPC_SUBSECTION = 1
# Bits in a version 2 core subsection: version, 9 + 16 + 3 + 1 + 3 two-bit fields.
_V2_CORE_BITS = 6 + 2 * (9 + 16 + 3 + 1 + 3)

_NOTICES_AND_OPT_OUTS = (
    "sharing_notice",
    "sale_opt_out_notice",
    "sharing_opt_out_notice",
    "targeted_advertising_opt_out_notice",
    "sensitive_data_processing_opt_out_notice",
    "sensitive_data_limit_use_notice",
    "sale_opt_out",
    "sharing_opt_out",
    "targeted_advertising_opt_out",
)
_MSPA = ("mspa_covered_transaction", "mspa_opt_out_option_mode", "mspa_service_provider_mode")


@dataclass(frozen=True, slots=True)
class UsNat:
    """A decoded usnat section. ``gpc`` is False when the GPC subsection is absent."""

    version: int
    sharing_notice: int
    sale_opt_out_notice: int
    sharing_opt_out_notice: int
    targeted_advertising_opt_out_notice: int
    sensitive_data_processing_opt_out_notice: int
    sensitive_data_limit_use_notice: int
    sale_opt_out: int
    sharing_opt_out: int
    targeted_advertising_opt_out: int
    sensitive_data_processing: tuple[int, ...]
    known_child_sensitive_data_consents: tuple[int, ...]
    personal_data_consents: int
    mspa_covered_transaction: int
    mspa_opt_out_option_mode: int
    mspa_service_provider_mode: int
    gpc_segment_included: bool
    gpc: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields under their snake_case spec names."""
        out: dict[str, Any] = {}
        for name in _USNAT_FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


_USNAT_FIELDS = tuple(f.name for f in dataclass_fields(UsNat))


def decode_usnat(text: str | bytes) -> UsNat:
    """Decode a usnat section (core subsection, then optionally '.' and the GPC subsection).

    Raises :class:`ConsentStringError` naming the subsection and field for bad
    base64, a version other than 1 or 2, truncation, a subsection type other
    than GPC, more than two subsections, or set bits after the last field.
    """
    parts = as_text(text, "usnat").split(".")
    if len(parts) > 2:
        raise ConsentStringError("usnat: more subsections than core and GPC")
    r = BitReader(base64url_bits(parts[0], "usnat core"), "usnat core")
    version = r.read_int(6, "version")
    if version not in _LIST_LENGTHS:
        raise r.error("version", "unsupported usnat version (expected 1 or 2)")
    # Reference encoders of one release wrote version 1 with the version 2 lists;
    # their readers tell the layouts apart by length, and so does this one.
    layout = 2 if version == 1 and r.remaining + 6 >= _V2_CORE_BITS else version
    sensitive, child = _LIST_LENGTHS[layout]
    fields: dict[str, Any] = {"version": version}
    for name in _NOTICES_AND_OPT_OUTS:
        fields[name] = r.read_int(2, name)
    fields["sensitive_data_processing"] = r.read_flags(sensitive, 2, "sensitive_data_processing")
    fields["known_child_sensitive_data_consents"] = r.read_flags(
        child, 2, "known_child_sensitive_data_consents")
    fields["personal_data_consents"] = r.read_int(2, "personal_data_consents")
    for name in _MSPA:
        fields[name] = r.read_int(2, name)
    r.expect_padding()
    fields["gpc_segment_included"] = len(parts) == 2
    fields["gpc"] = False
    if len(parts) == 2:
        g = BitReader(base64url_bits(parts[1], "usnat gpc"), "usnat gpc")
        if g.read_int(2, "subsection_type") != _GPC_SUBSECTION:
            raise g.error("subsection_type", "not the GPC subsection (type 1)")
        fields["gpc"] = g.read_bool("gpc")
        g.expect_padding()
    return UsNat(**fields)


def validate_usnat(section: UsNat) -> list[str]:
    """Fields holding a value the usnat specification does not define; empty if none.

    Every 2-bit field allows 0, 1, 2; ``mspa_covered_transaction`` only 1 or 2.
    """
    problems = []
    for name in (*_NOTICES_AND_OPT_OUTS, "personal_data_consents", *_MSPA):
        if getattr(section, name) == 3:
            problems.append(f"{name}: reserved value 3")
    for name in ("sensitive_data_processing", "known_child_sensitive_data_consents"):
        if 3 in getattr(section, name):
            problems.append(f"{name}: reserved value 3")
    if section.mspa_covered_transaction == 0:
        problems.append("mspa_covered_transaction: must be 1 (yes) or 2 (no)")
    return problems
