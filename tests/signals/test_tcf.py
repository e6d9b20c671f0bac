"""TCF v2 TC strings: public vectors, reference-library vectors, malformed input, policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.errors import CdpPluginError
from cdp_plugin.signals import (
    MAX_INPUT_CHARS,
    ConsentStringError,
    TCString,
    decode_consent_string,
    decode_tcf,
    effective_li_purposes,
    effective_purposes,
    validate_tcf,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def load_vectors() -> dict[str, Any]:
    path = VECTORS / "consent_strings.json"
    if not path.is_file():
        pytest.skip(f"shared consent-string vectors not found at {path}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# --- a small encoder, to build exact malformed and edge-case strings -----------------


def b64(bits: str) -> str:
    """Bits to base64url, six a character, zero-padded as the reference encoders do."""
    bits += "0" * (-len(bits) % 6)
    return "".join(_URLSAFE[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))


def b64_bytes(bits: str) -> str:
    """Bits padded to whole bytes, then base64url with '=' padding (java.util.Base64 style)."""
    import base64

    bits += "0" * (-len(bits) % 8)
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return base64.urlsafe_b64encode(raw).decode()


def num(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def ids_field(ids: tuple[int, ...] | list[int], width: int) -> str:
    return "".join("1" if i in ids else "0" for i in range(1, width + 1))


def bitfield_vendors(ids: list[int]) -> str:
    top = max(ids, default=0)
    return num(top, 16) + "0" + ids_field(ids, top)


def range_vendors(max_id: int, entries: list[tuple[int, int | None]],
                  num_entries: int | None = None) -> str:
    """A range-encoded vendor section; an entry (start, None) is a single ID."""
    out = num(max_id, 16) + "1" + num(len(entries) if num_entries is None else num_entries, 12)
    for start, end in entries:
        out += "0" + num(start, 16) if end is None else "1" + num(start, 16) + num(end, 16)
    return out


def core_bits(*, version: int = 2, policy_version: int = 4, service_specific: bool = True,
              purposes_consent: tuple[int, ...] = (), purposes_li: tuple[int, ...] = (),
              special_features: tuple[int, ...] = (), created_ds: int = 16409952000,
              updated_ds: int | None = None, vendor_consents: str | None = None,
              vendor_li: str | None = None, restrictions: str = "000000000000",
              language: str = num(4, 6) + num(13, 6)) -> str:
    """A core segment's bits; times in deciseconds (default 2022-01-01T00:00:00Z)."""
    return (num(version, 6) + num(created_ds, 36)
            + num(created_ds if updated_ds is None else updated_ds, 36)
            + num(300, 12) + num(4, 12) + num(1, 6) + language  # default "EN"
            + num(150, 12) + num(policy_version, 6) + ("1" if service_specific else "0") + "0"
            + ids_field(special_features, 12) + ids_field(purposes_consent, 24)
            + ids_field(purposes_li, 24) + "0" + num(3, 6) + num(4, 6)  # "DE"
            + (bitfield_vendors([]) if vendor_consents is None else vendor_consents)
            + (bitfield_vendors([]) if vendor_li is None else vendor_li)
            + restrictions)


def tc(**kwargs: Any) -> TCString:
    return decode_tcf(b64(core_bits(**kwargs)))


# --- the shared vectors ------------------------------------------------------------------


def _expected(decoded: dict[str, Any], key: str) -> Any:
    # "<field>_first_three" in the vectors is a derived check, not a decoder field:
    # whether purposes 1, 2 and 3 are in <field>.
    if key.endswith("_first_three"):
        return [i in decoded[key.removesuffix("_first_three")] for i in (1, 2, 3)]
    return decoded[key]


def test_every_shared_tcf_vector_decodes_exactly() -> None:
    vectors = load_vectors()["tcf"]
    assert vectors
    for vector in vectors:
        decoded = decode_consent_string(vector["string"])
        assert decoded["format"] == "tcf"
        for key, want in vector["expect"].items():
            assert _expected(decoded, key) == want, key


def test_shared_vectors_decode_with_padding_and_the_standard_alphabet() -> None:
    for vector in load_vectors()["tcf"]:
        text = vector["string"]
        plain = decode_tcf(text)
        padded = ".".join(seg + "=" * (-len(seg) % 4) for seg in text.split("."))
        standard = text.replace("-", "+").replace("_", "/")
        assert decode_tcf(padded) == plain
        assert decode_tcf(standard) == plain
        assert decode_tcf(text.encode()) == plain


# --- vectors from the IAB reference libraries --------------------------------------------

# InteractiveAdvertisingBureau/iabtcf-java,
# iabtcf-decoder/src/test/java/com/iabtcf/decoder/TCStringV2Test.java
IABTCF_JAVA_CORE = ("COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAA"
                    "CAAAABAAA")
IABTCF_JAVA: list[tuple[str, dict[str, Any]]] = [
    (IABTCF_JAVA_CORE,
     {"purposes_consent": [3, 4, 5, 6, 7, 8, 9],
      "vendor_consents": [23, 37, 47, 48, 53, 65, 98],
      "vendor_legitimate_interests": [37, 47, 48, 53, 65, 98, 129]}),
    (IABTCF_JAVA_CORE + ".IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA",
     {"vendors_allowed": [12, 23, 37, 47, 48, 53],
      "vendors_disclosed": [23, 37, 47, 48, 53, 65, 98, 129]}),
    (IABTCF_JAVA_CORE + ".IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA.cAAAAAAAITg=",
     # The Java test checks one publisher purpose; the bits ("c" = 011 100) say it is 1.
     {"publisher_purposes_consent": [1]}),
    ("COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA",
     {"vendor_legitimate_interests": [128]}),
    ("COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAYFfAV-BVkAGBVYFWAAA.IFoEUQQgAIQwgIwQABAEAAAA"
     "OIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQE"
     "AAAQmAgBC3ZAYzUw",
     {"vendor_consents": [702, 703]}),
    ("COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAQFfgUbABAUaAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAAC"
     "AIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmA"
     "gBC3ZAYzUw",
     {"vendor_consents": [703]}),
    ("COwxsONOwxsONKpAAAENAdCAAMAAAAAAAAAAAAAAAAAA", {"purposes_consent": [1, 2]}),
]

# IABTechLab/iabgpp-java,
# iabgpp-encoder/src/test/java/com/iab/gpp/encoder/section/TcfEuV2Test.java
# (the same strings appear in IABTechLab/iabgpp-es,
# modules/cmpapi/test/encoder/section/TcfEuV2.test.ts)
IABGPP_TCFEUV2: list[tuple[str, dict[str, Any]]] = [
    ("CAAAAAAAAAAAAAAAAAENAACAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA",
     {"version": 2, "created": "1970-01-01T00:00:00Z", "last_updated": "1970-01-01T00:00:00Z",
      "cmp_id": 0, "cmp_version": 0, "consent_screen": 0, "consent_language": "EN",
      "vendor_list_version": 0, "policy_version": 2, "is_service_specific": False,
      "use_non_standard_texts": False, "special_feature_opt_ins": [], "purposes_consent": [],
      "purposes_li_transparency": [], "purpose_one_treatment": False, "publisher_cc": "AA",
      "vendor_consents": [], "vendor_legitimate_interests": [], "publisher_restrictions": [],
      "vendors_allowed": [], "vendors_disclosed": []}),
    ("CPSG_8APSG_8AAAAAAENAACgAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAAA",
     {"created": "2022-01-01T00:00:00Z", "last_updated": "2022-01-01T00:00:00Z",
      "policy_version": 2, "is_service_specific": True, "publisher_purposes_consent": [],
      "publisher_purposes_li_transparency": [], "custom_purposes_consent": [],
      "custom_purposes_li_transparency": []}),
    ("COv_eg6Ov_eg6AOADBENAaCgAP_AAH_AACiQAVEUQQoAIQAqIoghAAQgAA.YAAAAAAAAAAAAAAAAAA",
     {"cmp_id": 14, "cmp_version": 3, "consent_screen": 1, "consent_language": "EN",
      "vendor_list_version": 26, "policy_version": 2, "is_service_specific": True,
      "special_feature_opt_ins": [], "purposes_consent": list(range(1, 11)),
      "purposes_li_transparency": list(range(2, 11)), "purpose_one_treatment": False,
      "publisher_cc": "US", "vendor_consents": [2, 6, 8, 12, 18, 23, 25, 37, 42],
      "vendor_legitimate_interests": [2, 6, 8, 12, 18, 23, 37, 42]}),
    ("COoC-kUOoC-kUAHABAENAwCoAIAAAELAAAwIF5wAoAAgAGAvMACX_ABBAAQAFA",
     {"created": "2019-10-07T05:17:54Z", "last_updated": "2019-10-07T05:17:54Z", "cmp_id": 7,
      "cmp_version": 1, "consent_screen": 0, "vendor_list_version": 48, "policy_version": 2,
      "is_service_specific": True, "special_feature_opt_ins": [1], "purposes_consent": [1],
      "purposes_li_transparency": [2, 7, 9, 10], "publisher_cc": "GB",
      "vendor_consents": [1, 2, 3, 755], "vendor_legitimate_interests": list(range(1, 10)),
      "publisher_restrictions": [{"purpose_id": 1, "restriction_type": 0, "vendor_ids": [10]}]}),
]
# Same file, testDecode3/4/5: long real-world strings, checked by counts and ends.
IABGPP_TCFEUV2_LONG = (
    "CPcqBNJPcqBNJNwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAA.QGLtV_T9fb2vj-_Z99_tkeYwf95y3p-w"
    "zhheMs-8NyZeH_B4Wv2MyvBX4JiQKGRgksjLBAQdtHGlcTQgBwIlViTLMYk2MjzNKJrJEilsbO2dYGD9Pn8HT3ZCY70"
    "-vv__7v3ff_3g.IGLtV_T9fb2vj-_Z99_tkeYwf95y3p-wzhheMs-8NyZeH_B4Wv2MyvBX4JiQKGRgksjLBAQdtHG"
    "lcTQgBwIlViTLMYk2MjzNKJrJEilsbO2dYGD9Pn8HT3ZCY70-vv__7v3ff_3g")
IABGPP_TCFEUV2_REAL = [
    ("CPi8wgAPi8wgAAOACBENCuCoAP_AAEfAACiQJHNd_H__bX9n-f7_6ft0eY1f9_r37uQzDhfNk-8F3L_W_LwX_2E"
     "7NF36tq4KmR4ku1LBIUNtHMnUDUmxaokVrzHsak2cpzNKJ_BkknsZe2dYGF9vm5tj-QKZ7_5_d3f52T_9_9v-39z"
     "33913v3d93-_13LjdV5_9H_v9fR_b8_Kf9_5-_4v8_____3_e______8AEEggCTDVuIAuxLHAm0DCKBECMKwkKo"
     "FABBQDC0QGADg4KdlYBPrCBAAgFAEYEQIcAUYEAgAAAgCQiACQIsEAAAIgEAAIAEQiEABAwCCgAsDAIAAQDQMUQ"
     "oABAkIMiAiKUwICIEggJbKhBKC6Q0wgCrLACgkRsFAAiAAAUgACAsHAMESAlYsECTFG-QAjBCgFEqFaAGGgAwA"
     "BBI4RABgACCRwqADAAEEjgA", 772, 280),
    ("CPgA5EAPgA5EAAOACBENCuCoAP_AAEfAACiQI0Nd_H__bX9n-f7_6Pt0cY1f9_r3ruQzDhfFk-8F3L_W3LwX32E"
     "7NF36pq4KmR4ku1LBIQFtHMnUDUmxaokVrzHsak2cpyNKI7BkknsZe2dYGF9Pm5lD-QKZ7_5_d3f52T_9_9v-39z"
     "339V3v3d93-_12PjdV599H_v9fR_b8_Kf9_5-_4v8___4IQAAAAQQ_AJMNW4gC7EscCbQMIoAQIwrCQqAUAEFAM"
     "LRAYAODgpmVgEusIEACAUARgRAhxBRgQCAAACAJCIAJAiwQAIAiAQAAgARAIQAEDAIKACwMAgABANAxACgAECQgy"
     "ICIpTAgIgSCAlsqEEoKpDTCAKssAKARGwUACIAABSAAICwcAwRICViwQJMUbwAw0AGAAIJHCIAMAAQSOFQAYAAgk"
     "cA", 693, 254),
]


@pytest.mark.parametrize(("text", "expect"), IABTCF_JAVA + IABGPP_TCFEUV2)
def test_reference_library_vectors(text: str, expect: dict[str, Any]) -> None:
    decoded = decode_tcf(text).to_dict()
    for key, want in expect.items():
        assert decoded[key] == want, key


def test_reference_real_world_strings() -> None:
    for text, consents, interests in IABGPP_TCFEUV2_REAL:
        decoded = decode_tcf(text)
        assert (decoded.cmp_id, decoded.cmp_version, decoded.vendor_list_version) == (14, 2, 174)
        assert decoded.is_service_specific and decoded.publisher_cc == "US"
        assert decoded.special_feature_opt_ins == (1,)
        assert decoded.purposes_consent == tuple(range(1, 11))
        assert decoded.purposes_li_transparency == (2, 6, 7, 8, 9, 10)
        assert len(decoded.vendor_consents) == consents
        assert len(decoded.vendor_legitimate_interests) == interests
    long = decode_tcf(IABGPP_TCFEUV2_LONG)
    assert (long.cmp_id, long.vendor_list_version) == (880, 48)
    for vendors in (long.vendors_allowed, long.vendors_disclosed):
        assert vendors is not None and len(vendors) == 434
        assert vendors[:10] == (1, 2, 4, 6, 8, 10, 11, 12, 13, 14)
        assert vendors[-9:] == (782, 783, 784, 785, 786, 788, 789, 790, 791)


def test_reference_publisher_restrictions_bit_string() -> None:
    # iabtcf-java TCStringV2Test.testPublisherRestrictions: the same bits, byte-padded
    # and '='-padded by java.util.Base64 as in the original test.
    bits = ("0000100011101011100" "1000000000000001010" "0000001110101110010"
            "0000000000000101000" "0000110011111000000" "0000000000000000100"
            "0011010000000011110" "0001000000000000000" + "0" * 95 + "000000000011"
            + "000001" "01" "000000000000" + "000010" "00" "000000000000"
            + "000011" "10" "000000000000" + "0")
    decoded = decode_tcf(b64_bytes(bits))
    assert [(r.purpose_id, r.restriction_type, r.vendor_ids)
            for r in decoded.publisher_restrictions] == [(1, 1, ()), (2, 0, ()), (3, 2, ())]


def test_reference_publisher_purposes_segment() -> None:
    # iabtcf-java TCStringV2Test.testPublisherPurposes.
    segment = ("011" "100000000000000000000000" "000000000000000000000001" "000010" "01" "11"
               "000")
    decoded = decode_tcf("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA." + b64_bytes(segment))
    assert decoded.publisher_purposes_consent == (1,)
    assert decoded.publisher_purposes_li_transparency == (24,)
    assert decoded.custom_purposes_consent == (2,)
    assert decoded.custom_purposes_li_transparency == (1, 2)


# --- decoding details ----------------------------------------------------------------------


def test_range_encoding_merges_overlaps_and_sorts() -> None:
    decoded = tc(vendor_consents=range_vendors(40, [(30, 40), (2, None), (5, 8), (7, 10)]))
    assert decoded.vendor_consents == (2, 5, 6, 7, 8, 9, 10, *range(30, 41))


def test_tenths_of_a_second_show_as_milliseconds() -> None:
    decoded = tc(created_ds=16409952003, updated_ds=16409952010)
    assert decoded.to_dict()["created"] == "2022-01-01T00:00:00.300Z"
    assert decoded.to_dict()["last_updated"] == "2022-01-01T00:00:01Z"


def test_absent_optional_segments_are_none_and_the_dict_is_json() -> None:
    decoded = tc(purposes_consent=(1, 2))
    assert decoded.vendors_disclosed is None and decoded.publisher_purposes_consent is None
    as_json = json.loads(json.dumps(decode_consent_string(b64(core_bits()))))
    assert as_json["format"] == "tcf" and as_json["vendors_disclosed"] is None


# --- malformed strings ---------------------------------------------------------------------

GOOD = b64(core_bits(vendor_consents=range_vendors(10, [(2, 5)])))

MALFORMED = [
    ("truncated", GOOD[:40], "core segment: vendor_consents"),
    ("truncated in the header", GOOD[:3], "core segment: created: truncated"),
    ("truncated in a range entry", GOOD[:45], "vendor_consents.end_vendor_id: truncated"),
    ("bad base64", GOOD[:10] + "!" + GOOD[11:], "core segment: not base64url"),
    ("wrong version", b64(core_bits(version=1)), "core segment: version"),
    ("trailing garbage bits", GOOD + "xyz", "core segment: padding: unexpected trailing data"),
    ("trailing empty segment", GOOD + ".", "segment 2: empty"),
    ("range end before start", b64(core_bits(vendor_consents=range_vendors(9, [(9, 3)]))),
     "core segment: vendor_consents: range end before its start"),
    ("vendor 0", b64(core_bits(vendor_consents=range_vendors(9, [(0, None)]))),
     "vendor ID 0"),
    ("ID above max_vendor_id", b64(core_bits(vendor_consents=range_vendors(9, [(8, 12)]))),
     "vendor ID above max_vendor_id"),
    ("huge num_entries", b64(core_bits(vendor_consents=range_vendors(9, [], num_entries=4095))),
     "vendor_consents.num_entries: more entries than the remaining bits can hold"),
    ("huge num_pub_restrictions", b64(core_bits(restrictions=num(4095, 12))),
     "num_pub_restrictions: more restrictions"),
    ("unknown segment type", GOOD + "." + b64("101" + "0" * 21),
     "segment 2: segment_type: not an optional segment type"),
    ("repeated segment", GOOD + ".IAAA.IAAA", "segment 3: segment_type: second disclosed"),
    ("too many segments", GOOD + ".IAAA.QAAA.YAAAAAAAAAAA.IAAA", "more segments"),
    ("language not letters", b64(core_bits(language=num(63, 12))),
     "consent_language: not a letter"),
]


@pytest.mark.parametrize(("text", "fragment"), [(t, f) for _, t, f in MALFORMED],
                         ids=[name for name, _, _ in MALFORMED])
def test_malformed_strings_raise_a_typed_error_naming_the_part(text: str, fragment: str) -> None:
    with pytest.raises(ConsentStringError) as caught:
        decode_tcf(text)
    message = str(caught.value)
    assert fragment in message
    assert text not in message
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, CdpPluginError)


@pytest.mark.parametrize("value", ["", "C" * (MAX_INPUT_CHARS + 1), b"\xff\xfe", 42, None,
                                   "CPTtLAAPTtLAAAAAAAENAAFgAL\u00e9"])
def test_unusable_input_raises_the_typed_error(value: Any) -> None:
    with pytest.raises(ConsentStringError):
        decode_tcf(value)


def test_auto_detection_rejects_tcf_v1_and_unknown_strings() -> None:
    with pytest.raises(ConsentStringError, match="TCF v1"):
        decode_consent_string("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA")
    with pytest.raises(ConsentStringError, match="neither"):
        decode_consent_string("hello")


# --- policy ---------------------------------------------------------------------------------


def test_a_clean_v22_string_has_no_problems() -> None:
    decoded = tc(purposes_consent=(1, 3, 4), purposes_li=(2, 7), special_features=(1,))
    assert validate_tcf(decoded) == []
    effective = effective_purposes(decoded)
    assert [p for p, on in effective.items() if on] == [1, 2, 3, 4, 7]
    assert set(effective) == set(range(1, 25))


def test_v22_without_service_specific_is_invalid_and_grants_nothing() -> None:
    decoded = tc(policy_version=4, service_specific=False, purposes_consent=(1, 2))
    problems = validate_tcf(decoded)
    assert any(p.startswith("is_service_specific: invalid") for p in problems)
    assert not any(effective_purposes(decoded).values())


def test_legitimate_interest_is_ignored_for_purposes_one_and_three_to_six() -> None:
    decoded = tc(purposes_li=(1, 2, 3, 4, 5, 6, 7, 10))
    assert effective_li_purposes(decoded) == (2, 7, 10)
    effective = effective_purposes(decoded)
    assert [p for p, on in effective.items() if on] == [2, 7, 10]
    problems = validate_tcf(decoded)
    assert any("purpose 1 cannot rest on legitimate interest" in p for p in problems)
    assert any("purposes 3, 4, 5 and 6" in p for p in problems)


def test_old_policy_strings_are_flagged_but_still_read() -> None:
    # Shared vector 1 is a policy-version-2 global-scope string.
    decoded = decode_tcf("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA")
    assert validate_tcf(decoded) == ["policy_version: below 4, the string predates TCF v2.2"]
    effective = effective_purposes(decoded)
    assert [p for p, on in effective.items() if on] == [2, 9, 10]


def test_other_policy_problems_are_reported() -> None:
    restriction = num(1, 12) + num(12, 6) + "11" + num(0, 12)  # purpose 12, reserved type 3
    decoded = tc(purposes_consent=(12,), special_features=(3,), created_ds=20,
                 updated_ds=10, restrictions=restriction)
    problems = validate_tcf(decoded)
    assert "purposes_consent: bits set for undefined purposes (above 11)" in problems
    assert any(p.startswith("special_feature_opt_ins:") for p in problems)
    assert "publisher_restrictions[1].purpose_id: not a defined purpose" in problems
    assert "publisher_restrictions[1].restriction_type: reserved value 3" in problems
    assert "last_updated: earlier than created" in problems
