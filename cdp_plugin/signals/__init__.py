"""Server-side decoders for IAB consent strings: TCF v2.2 TC strings and GPP strings.

:func:`decode_consent_string` tells the two apart by the first character (a TCF
v2 core segment starts with 'C', a GPP header with 'D') and returns a JSON-able
dict with a ``format`` key. Every decoder raises only :class:`ConsentStringError`
for bad input, whatever its content or length.
"""

from __future__ import annotations

from typing import Any

from cdp_plugin.signals.bits import MAX_INPUT_CHARS, ConsentStringError, as_text
from cdp_plugin.signals.gpp import (
    GPPHeader,
    GPPSection,
    GPPString,
    UspV1,
    decode_gpp,
    decode_gpp_header,
    decode_uspv1,
)
from cdp_plugin.signals.tcf import (
    PublisherRestriction,
    TCString,
    decode_tcf,
    effective_li_purposes,
    effective_purposes,
    validate_tcf,
)
from cdp_plugin.signals.usnat import UsNat, decode_usnat, validate_usnat

__all__ = [
    "MAX_INPUT_CHARS",
    "ConsentStringError",
    "GPPHeader",
    "GPPSection",
    "GPPString",
    "PublisherRestriction",
    "TCString",
    "UsNat",
    "UspV1",
    "decode_consent_string",
    "decode_gpp",
    "decode_gpp_header",
    "decode_tcf",
    "decode_usnat",
    "decode_uspv1",
    "effective_li_purposes",
    "effective_purposes",
    "validate_tcf",
    "validate_usnat",
]


def decode_consent_string(text: str | bytes) -> dict[str, Any]:
    """Decode a TC string or a GPP string to a JSON-able dict.

    The result is the decoder's ``to_dict()`` plus ``format``: ``"tcf"`` or
    ``"gpp"``. Raises :class:`ConsentStringError` for anything else, including a
    TCF v1 string (first character 'B').
    """
    value = as_text(text, "consent string")
    first = value[0]
    if first == "C":
        return {"format": "tcf", **decode_tcf(value).to_dict()}
    if first == "D":
        return {"format": "gpp", **decode_gpp(value).to_dict()}
    if first == "B":
        raise ConsentStringError("consent string: TCF v1 strings are not supported")
    raise ConsentStringError("consent string: neither a TCF v2 TC string (first character "
                             "'C') nor a GPP string (first character 'D')")
