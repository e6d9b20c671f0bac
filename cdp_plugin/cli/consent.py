"""`cdp-plugin consent decode`: decode a TCF v2 TC string or a GPP string to JSON."""

from __future__ import annotations

import argparse
import json
import sys

from cdp_plugin.signals import MAX_INPUT_CHARS, ConsentStringError, decode_consent_string


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = commands.add_parser("consent", help="work with IAB consent strings",
                                  description="Decode IAB consent strings (TCF v2.2, GPP).")
    actions = consent.add_subparsers(dest="consent_command", metavar="COMMAND", required=True)
    decode = actions.add_parser(
        "decode", help="decode a TC string or a GPP string and print it as JSON",
        description="Decode a TCF v2 TC string (starting with 'C') or a GPP string (starting "
                    "with 'D') and print its fields as indented JSON with sorted keys. GPP "
                    "sections tcfeuv2, uspv1 and usnat are decoded; others are shown raw. "
                    "Exits 1 with the failing segment and field named if the string is "
                    "malformed.")
    decode.add_argument("string", metavar="STRING",
                        help="the consent string, or '-' to read it from standard input")
    decode.set_defaults(handler=decode_command)


def decode_command(args: argparse.Namespace) -> int:
    text: str = args.string
    if text == "-":
        # Read one more than the cap so an over-long input is refused, not cut short.
        text = sys.stdin.read(MAX_INPUT_CHARS + 2).strip()
    try:
        decoded = decode_consent_string(text)
    except ConsentStringError as exc:
        print(f"cdp-plugin: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(decoded, indent=2, sort_keys=True))
    return 0
