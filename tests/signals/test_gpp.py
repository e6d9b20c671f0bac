"""GPP strings: header vectors, usnat, uspv1, reference-library vectors, errors, the CLI."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import pytest

from cdp_plugin.cli import consent
from cdp_plugin.signals import (
    ConsentStringError,
    TCString,
    UsNat,
    decode_consent_string,
    decode_gpp,
    decode_gpp_header,
    decode_usnat,
    decode_uspv1,
    validate_usnat,
)
from tests.signals.test_tcf import b64, load_vectors, num

HEADER_BITS = "000011" "000001"  # type 3, version 1


def header(range_bits: str) -> str:
    return b64(HEADER_BITS + range_bits)


# --- the shared vectors ------------------------------------------------------------------


def test_every_shared_gpp_header_vector_decodes_exactly() -> None:
    vectors = load_vectors()["gpp_headers"]
    assert vectors
    for vector in vectors:
        assert list(decode_gpp_header(vector["string"]).section_ids) == vector["section_ids"]


def test_every_shared_usnat_v2_vector_decodes_exactly() -> None:
    vectors = load_vectors()["gpp_usnat_v2_core_and_gpc"]
    assert vectors
    for vector in vectors:
        decoded = decode_usnat(vector["encoded"]).to_dict()
        for key, want in vector["fields"].items():
            assert decoded[key] == want, key
        # The same section inside a GPP string (section 7 = usnat).
        full = decode_consent_string(header("000000000001" "0" "01011") + "~" + vector["encoded"])
        assert full["format"] == "gpp"
        assert full["sections"][0]["name"] == "usnat"
        assert full["sections"][0]["fields"] == decoded


# --- reference vectors: header and Fibonacci ranges ----------------------------------------

# IABTechLab/iabgpp-es, modules/cmpapi/test/encoder/section/HeaderV1.test.ts
HEADERS = [("DBAA", []), ("DBABM", [2]), ("DBABMA", [2]), ("DBACNY", [2, 6]),
           ("DBACNYA", [2, 6]), ("DBABjw", [5, 6])]

# IABTechLab/iabgpp-java, iabgpp-encoder/src/test/java/com/iab/gpp/encoder/datatype/encoder/
# FibonacciIntegerRangeEncoderTest.java: the range bits, after a type 3 / version 1 header.
FIBONACCI_RANGES = [
    ("000000000000", []),
    ("0000000000010011", [2]),
    ("00000000000110111011", [2, 3, 4, 5, 6]),
    ("000000000010001110011011", [2, 5, 6, 7]),
    ("0000000000100001110110011", [3, 5, 6, 7, 8]),
    ("00000000001000111001101011", [2, 5, 6, 7, 8, 9, 10, 11, 12]),
]


@pytest.mark.parametrize(("text", "ids"), HEADERS)
def test_reference_headers(text: str, ids: list[int]) -> None:
    assert list(decode_gpp_header(text).section_ids) == ids


@pytest.mark.parametrize(("bits", "ids"), FIBONACCI_RANGES)
def test_reference_fibonacci_ranges(bits: str, ids: list[int]) -> None:
    assert list(decode_gpp_header(header(bits)).section_ids) == ids


# --- reference vectors: whole GPP strings --------------------------------------------------

# IABTechLab/iabgpp-es, modules/cmpapi/test/GppModel.test.ts
TCF_IN_GPP = "CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA"
TCFCA = ("BPSG_8APSG_8AAyACAENGdCgf_gfgAfgfgBgABABAAABAB4AACACADwAAEAE.fHHHA4444ao")


def test_reference_gpp_with_uspv1() -> None:
    decoded = decode_gpp("DBABTA~1YNN")
    assert decoded.section_ids == (6,)
    section = decoded.section("uspv1")
    assert section is not None and section.decoded is not None
    assert section.decoded.to_dict() == {"version": 1, "notice": "Y", "opt_out_sale": "N",
                                         "lspa_covered": "N"}


def test_reference_gpp_with_tcfeuv2_uspv1_and_raw_tcfcav1() -> None:
    decoded = decode_gpp(f"DBACOeA~{TCF_IN_GPP}~{TCFCA}~1YNN")
    assert decoded.section_ids == (2, 5, 6)
    assert [s.name for s in decoded.sections] == ["tcfeuv2", "tcfcav1", "uspv1"]
    tcf = decoded.section(2)
    assert tcf is not None and isinstance(tcf.decoded, TCString)
    assert (tcf.decoded.cmp_id, tcf.decoded.vendor_list_version, tcf.decoded.policy_version,
            tcf.decoded.consent_language, tcf.decoded.publisher_cc) == (880, 48, 2, "EN", "AA")
    assert tcf.decoded.to_dict()["created"] == "2022-01-01T00:00:00Z"
    canada = decoded.to_dict()["sections"][1]
    assert canada == {"id": 5, "name": "tcfcav1", "raw": TCFCA}
    assert decode_gpp(f"DBACNYA~{TCF_IN_GPP}~1YNN").section_ids == (2, 6)


@pytest.mark.parametrize(("tcf", "vendors"), [
    ("CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAAOAAAABAAAAA.QAAA.IAAA", (28,)),
    ("CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAAOwAQAOgAAAA.QAAA.IAAA", (29,)),
    ("CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAFpQAwAAgCtAWkAAAAAAA.QAAA.IAAA", (1, 173, 722)),
])
def test_reference_gpp_tcf_vendor_consents(tcf: str, vendors: tuple[int, ...]) -> None:
    section = decode_gpp(f"DBABMA~{tcf}").section("tcfeuv2")
    assert section is not None and isinstance(section.decoded, TCString)
    assert section.decoded.vendor_consents == vendors


# --- reference vectors: usnat ----------------------------------------------------------------

V2_FIELDS = {"version": 2, "sharing_notice": 1, "sale_opt_out_notice": 1,
             "sharing_opt_out_notice": 1, "targeted_advertising_opt_out_notice": 1,
             "sensitive_data_processing_opt_out_notice": 1,
             "sensitive_data_limit_use_notice": 1, "sale_opt_out": 1, "sharing_opt_out": 1,
             "targeted_advertising_opt_out": 1,
             "sensitive_data_processing": [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2],
             "known_child_sensitive_data_consents": [2, 1, 0], "personal_data_consents": 1,
             "mspa_covered_transaction": 1, "mspa_opt_out_option_mode": 1,
             "mspa_service_provider_mode": 2}
V1_FIELDS = {**V2_FIELDS, "version": 1,
             "sensitive_data_processing": [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0],
             "known_child_sensitive_data_consents": [2, 1]}

USNAT = [
    # IABTechLab/iabgpp-es, modules/cmpapi/test/encoder/section/UsNat.test.ts
    ("CVVVkkkkkpFY.YA", {**V2_FIELDS, "gpc_segment_included": True, "gpc": True}),
    ("CVVVkkkkkpFY", {**V2_FIELDS, "gpc_segment_included": False, "gpc": False}),
    ("CAAAAAAAAABA", {"version": 2, "mspa_covered_transaction": 1, "gpc": False,
                      "sensitive_data_processing": [0] * 16,
                      "known_child_sensitive_data_consents": [0, 0, 0]}),
    # The JS library pads version 1 lists to the version 2 lengths; kept as encoded here.
    ("BqqqqqqqqqA", {"version": 1, "sharing_notice": 2, "sale_opt_out": 2,
                     "sensitive_data_processing": [2] * 12,
                     "known_child_sensitive_data_consents": [2, 2],
                     "mspa_service_provider_mode": 2, "gpc_segment_included": False}),
    # One release of the reference encoders wrote version 1 with the version 2 lists
    # (UsNat.test.ts at an earlier commit; GppModel.test.ts "DBABLA~BAAAAAAAAQRA.QA").
    ("BVVVkkkkkpFY.YA", {**V2_FIELDS, "version": 1, "gpc": True}),
    ("BAAAAAAAAQRA.QA", {"version": 1, "sensitive_data_processing": [0] * 15 + [1],
                         "known_child_sensitive_data_consents": [0, 0, 1]}),
    # IABTechLab/iabgpp-java, iabgpp-encoder/src/test/java/com/iab/gpp/encoder/section/
    # UsNatTest.java (version 1 layout)
    ("BVVVkkkklWA.YA", {**V1_FIELDS, "gpc_segment_included": True, "gpc": True}),
    ("BVVVkkkklWA", {**V1_FIELDS, "gpc_segment_included": False, "gpc": False}),
    # Same repository, UsNatV1Test.java
    ("BbbbGxsbFbA.YA", {"sharing_notice": 1, "sale_opt_out_notice": 2,
                        "sharing_opt_out_notice": 3, "targeted_advertising_opt_out_notice": 1,
                        "sensitive_data_processing_opt_out_notice": 2,
                        "sensitive_data_limit_use_notice": 3, "sale_opt_out": 1,
                        "sharing_opt_out": 2, "targeted_advertising_opt_out": 3,
                        "sensitive_data_processing": [0, 1, 2, 3] * 3,
                        "known_child_sensitive_data_consents": [0, 1],
                        "personal_data_consents": 1, "mspa_covered_transaction": 1,
                        "mspa_opt_out_option_mode": 2, "mspa_service_provider_mode": 3,
                        "gpc": True}),
    ("BVQVAAAAAUA.YA", {"sharing_notice": 1, "sale_opt_out_notice": 1,
                        "sensitive_data_processing_opt_out_notice": 0, "sale_opt_out": 1,
                        "targeted_advertising_opt_out": 1, "personal_data_consents": 0,
                        "mspa_covered_transaction": 1, "mspa_opt_out_option_mode": 1,
                        "mspa_service_provider_mode": 0, "gpc": True}),
    ("BAAAAAAAAQA.QA", {"mspa_covered_transaction": 1, "sale_opt_out": 0, "gpc": False,
                        "gpc_segment_included": True}),
]


@pytest.mark.parametrize(("text", "expect"), USNAT)
def test_reference_usnat(text: str, expect: dict[str, Any]) -> None:
    decoded = decode_usnat(text).to_dict()
    for key, want in expect.items():
        assert decoded[key] == want, key


def test_usnat_reserved_values_are_reported() -> None:
    assert validate_usnat(decode_usnat("CVVVkkkkkpFY.YA")) == []
    problems = validate_usnat(decode_usnat("BbbbGxsbFbA.YA"))
    assert "sharing_opt_out_notice: reserved value 3" in problems
    assert "sensitive_data_processing: reserved value 3" in problems


# --- malformed GPP strings -------------------------------------------------------------------

USNAT_SECTION = header("000000000001" "0" "01011")  # [7]

MALFORMED = [
    ("not a header type", b64("000010" "000001" "000000000000"), "gpp header: type"),
    ("unsupported version", b64("000011" "000010" "000000000000"), "gpp header: version"),
    ("truncated ranges", header("000000000010" "0011"), "gpp header: section_ids"),
    ("huge num_ranges", header(num(4095, 12)), "section_ids.num_ranges: more entries"),
    ("unterminated Fibonacci", header("000000000001" "0" + "10" * 20),
     "section_ids.start: Fibonacci integer longer"),
    ("fewer sections than listed", "DBACNYA~1YNN", "lists more sections than the string"),
    ("more sections than listed", "DBABTA~1YNN~1YNN", "lists fewer sections"),
    ("bad section base64", USNAT_SECTION + "~CVVV!kkkkpFY",
     "gpp section 7 (usnat): usnat core: not base64url"),
    ("bad tcf section", "DBABMA~CPSG_8APSG_8ANwAA",
     "gpp section 2 (tcfeuv2): core segment:"),
    ("usnat version 3", USNAT_SECTION + "~DVVVkkkkkpFY", "usnat core: version"),
    ("usnat truncated", USNAT_SECTION + "~CVVVkkkk", "usnat core: sensitive_data_processing"),
    ("usnat wrong subsection", USNAT_SECTION + "~CVVVkkkkkpFY.oA",
     "usnat gpc: subsection_type"),
    ("usnat extra subsection", USNAT_SECTION + "~CVVVkkkkkpFY.YA.YA", "more subsections"),
    ("usnat trailing data", USNAT_SECTION + "~CVVVkkkkkpFY.Y_", "usnat gpc: padding"),
    ("uspv1 wrong length", "DBABTA~1YNNN", "uspv1: expected 4 characters"),
    ("uspv1 wrong version", "DBABTA~2YNN", "uspv1: version"),
    ("uspv1 bad flag", "DBABTA~1YXN", "uspv1: opt_out_sale"),
    ("empty section", "DBABTA~", "gpp section 6 (uspv1): uspv1: empty"),
]


@pytest.mark.parametrize(("text", "fragment"), [(t, f) for _, t, f in MALFORMED],
                         ids=[name for name, _, _ in MALFORMED])
def test_malformed_gpp_strings_raise_a_typed_error_naming_the_part(text: str,
                                                                  fragment: str) -> None:
    with pytest.raises(ConsentStringError) as caught:
        decode_gpp(text)
    assert fragment in str(caught.value)
    assert text not in str(caught.value)


def test_unknown_sections_are_kept_raw_with_their_id() -> None:
    text = header("000000000001" "0" "0000000011") + "~anything.at"  # section 55
    assert decode_gpp(text).section_ids == (55,)
    assert decode_gpp(text).to_dict()["sections"] == [
        {"id": 55, "name": None, "raw": "anything.at"}]


def test_decoded_sections_are_typed() -> None:
    section = decode_gpp(USNAT_SECTION + "~CVVVkkkkkpFY.YA").section("usnat")
    assert section is not None and isinstance(section.decoded, UsNat)
    assert section.decoded.gpc is True
    assert decode_uspv1("1---").notice == "-"


# --- the CLI ---------------------------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cdp-plugin")
    consent.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_decodes_a_tc_string_as_sorted_indented_json(
        capsys: pytest.CaptureFixture[str]) -> None:
    text = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA"
    code, out, err = run_cli(["consent", "decode", text], capsys)
    assert code == 0 and err == ""
    decoded = json.loads(out)
    assert decoded["format"] == "tcf" and decoded["cmp_id"] == 675
    assert out == json.dumps(decoded, indent=2, sort_keys=True) + "\n"


def test_cli_decodes_a_gpp_string_from_stdin(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("DBABTA~1YNN\n"))
    code, out, _ = run_cli(["consent", "decode", "-"], capsys)
    assert code == 0
    assert json.loads(out)["sections"][0]["fields"]["notice"] == "Y"


def test_cli_reports_a_malformed_string_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    text = "CPTtLAAPTtLAAAAAAAENAAFgALwAA"
    code, out, err = run_cli(["consent", "decode", text], capsys)
    assert code == 1 and out == ""
    assert err.startswith("cdp-plugin: core segment: ")
    assert text not in err


def test_cli_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run_cli(["consent", "decode", "--help"], capsys)
    assert done.value.code == 0
    assert "GPP string" in capsys.readouterr().out
