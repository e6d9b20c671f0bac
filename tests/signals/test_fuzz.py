"""Whatever the input, the decoders return a JSON-able result or raise ConsentStringError.

Random text, random base64url, raw bytes, and bit-level mutations of valid
strings are thrown at every decoder; hostile but well-formed strings (vendor
range bombs, huge Fibonacci spans, maximum length) must be refused or decoded
promptly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin.signals import (
    MAX_INPUT_CHARS,
    ConsentStringError,
    decode_consent_string,
    decode_gpp,
    decode_gpp_header,
    decode_tcf,
    decode_usnat,
    decode_uspv1,
)
from tests.signals.test_tcf import (
    IABGPP_TCFEUV2_REAL,
    IABTCF_JAVA,
    b64,
    core_bits,
    num,
    range_vendors,
)

_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {c: i for i, c in enumerate(_URLSAFE)}

DECODERS: tuple[Callable[[Any], Any], ...] = (
    decode_consent_string, decode_tcf, decode_gpp, decode_gpp_header, decode_usnat,
    decode_uspv1)

SEEDS = [
    "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA",
    "CPTtLAAPTtLAAAAAAAENAAFgALwAAEAAAAAAAOgAgABgAAAA.IAoAAgABgAAEAQAAEAAA.d4AACEAAAAAA",
    *(text for text, _ in IABTCF_JAVA),
    IABGPP_TCFEUV2_REAL[0][0],
    b64(core_bits(restrictions=num(1, 12) + "000011" "01" + num(1, 12) + "1" + num(3, 16)
                  + num(9, 16), vendor_consents=range_vendors(20, [(1, 5), (9, None)]))),
    "DBABjw~BPSG_8APSG_8AAyACAENGdCgf_gfgAfgfgBgABABAAABAB4AACACADwAAEAE.fHHHA4444ao~1NYY",
    "DBACNYA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~1YNN",
    "DBABLA~CVVVkkkkkpFY.YA",
    "DBABLA~BVVVkkkklWA.YA",
    "DBACOeA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~BPSG_8APSG_8AAyACAENGdC"
    "gf_gfgAfgfgBgABABAAABAB4AACACADwAAEAE.fHHHA4444ao~1YNN",
]

# Bare sections, for the section decoders.
SECTION_SEEDS = ["CVVVkkkkkpFY.YA", "BVVVkkkklWA", "1YNN"]


def fuzz(examples: int) -> settings:
    # About 2000 examples in all keeps the whole file to a few seconds.
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def check(value: Any) -> None:
    """Every decoder either returns something JSON-able or raises ConsentStringError."""
    for decoder in DECODERS:
        try:
            result = decoder(value)
        except ConsentStringError as exc:
            message = str(exc)
            assert message
            if isinstance(value, str) and len(value) >= 16:
                assert value not in message
            continue
        json.dumps(result if isinstance(result, dict) else result.to_dict())


def mutate(text: str, flips: list[int], cut: int | None, insert: tuple[int, str] | None) -> str:
    """Flip bits inside the base64 characters (separators stay), then cut or insert."""
    chars = list(text)
    positions = [i for i, c in enumerate(chars) if c in _INDEX]
    for flip in flips:
        at = positions[(flip // 6) % len(positions)]
        chars[at] = _URLSAFE[_INDEX[chars[at]] ^ (1 << (flip % 6))]
    out = "".join(chars)
    if cut is not None:
        out = out[:cut % (len(out) + 1)]
    if insert is not None:
        at = insert[0] % (len(out) + 1)
        out = out[:at] + insert[1] + out[at:]
    return out


@fuzz(400)
@given(st.text(max_size=200))
def test_random_text(value: str) -> None:
    check(value)


@fuzz(500)
@given(st.sampled_from(["C", "D", "B", "", "DBA"]),
       st.text(alphabet=_URLSAFE + ".~=+/", max_size=300))
def test_random_base64url(prefix: str, body: str) -> None:
    check(prefix + body)


@fuzz(900)
@given(st.sampled_from([*SEEDS, *SECTION_SEEDS]),
       st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8),
       st.none() | st.integers(min_value=0, max_value=1 << 16),
       st.none() | st.tuples(st.integers(min_value=0, max_value=1 << 16),
                             st.sampled_from([".", "~", "A", "_", "=", "C.", "~D", "!"])))
def test_bit_mutations_of_valid_strings(seed: str, flips: list[int], cut: int | None,
                                        insert: tuple[int, str] | None) -> None:
    check(mutate(seed, flips, cut, insert))


@fuzz(200)
@given(st.binary(max_size=300))
def test_random_bytes(value: bytes) -> None:
    check(value)


def test_every_seed_decodes() -> None:
    for seed in SEEDS:
        assert decode_consent_string(seed)["format"] in ("tcf", "gpp")


def test_a_vendor_range_bomb_is_refused() -> None:
    # 4095 restrictions, each naming every vendor 1..65535: 268M IDs from 36 KB.
    every_vendor = "000001" "00" + num(1, 12) + "1" + num(1, 16) + num(65535, 16)
    text = b64(core_bits(restrictions=num(4095, 12) + every_vendor * 4095))
    assert len(text) < MAX_INPUT_CHARS
    try:
        decode_tcf(text)
    except ConsentStringError as exc:
        assert "expands to more IDs than a consent string may carry" in str(exc)
    else:
        raise AssertionError("the range bomb decoded")


def test_a_huge_section_id_span_is_refused() -> None:
    span = "0" * 29 + "11"  # a Fibonacci offset in the millions
    text = b64("000011" "000001" + num(1, 12) + "1" + "11" + span) + "~1YNN"
    try:
        decode_gpp(text)
    except ConsentStringError as exc:
        assert "lists more sections than the string carries" in str(exc)
    else:
        raise AssertionError("the span decoded")


def test_maximum_length_inputs_finish() -> None:
    full_bitfield = b64(core_bits(vendor_consents=num(65535, 16) + "0" + "1" * 65535))
    assert len(decode_tcf(full_bitfield).vendor_consents) == 65535
    for value in ("C" * MAX_INPUT_CHARS, "D" + "~" * (MAX_INPUT_CHARS - 1),
                  "DBAA" + "~A" * ((MAX_INPUT_CHARS - 4) // 2), "C" + "_" * (MAX_INPUT_CHARS - 1)):
        check(value)
