"""`cdp-plugin consent`: decode consent strings, show a subject's ledger, list re-consent."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.keys.master import load_master_key
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.signals import MAX_INPUT_CHARS, ConsentStringError, decode_consent_string
from cdp_plugin.storage import open_store


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = commands.add_parser(
        "consent", help="consent strings, a subject's ledger, re-consent",
        description="Decode IAB consent strings (TCF v2.2, GPP), show a subject's consent "
                    "ledger, list subjects due for re-consent.")
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

    show = actions.add_parser(
        "show", help="print a subject's current consent and full history as JSON",
        description="Print the current state per purpose, channel and topic, and every "
                    "ledger record (the GDPR Art 7(1) evidence), for one subject. The "
                    "subject is looked up by its keyed pseudonym; the raw id is not stored.")
    show.add_argument("subject_id", metavar="SUBJECT_ID", help="the subject's user or anonymous id")
    add_config_options(show)
    show.set_defaults(handler=show_command)

    reconsent = actions.add_parser(
        "reconsent", help="list subjects due for re-consent",
        description="List subjects (by keyed pseudonym) whose consent is older than the "
                    "policy's maximum age or was given under a superseded notice. New "
                    "findings are audited and announced to cdp_reconsent_due observers.")
    reconsent.add_argument("--at", metavar="ISO-8601", type=datetime.fromisoformat,
                           help="evaluate as of this time (default: now)")
    reconsent.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(reconsent)
    reconsent.set_defaults(handler=reconsent_command)


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


def show_command(args: argparse.Namespace) -> int:
    config = config_from_args(args, needs_rules=False)
    subject_key = Pseudonymizer(load_master_key(config)).subject(args.subject_id)
    store = open_store(config.store_target)
    try:
        current = store.current_consent(subject_key)
        history = store.consent_history(subject_key)
    finally:
        store.close()
    print(json.dumps({
        "subject": subject_key,
        "current": [{"scope": scope, "name": name,
                     "state": "granted" if state.granted else "denied",
                     "source": state.source, "captured_at": state.captured_at.isoformat(),
                     "notice_version": state.notice_version}
                    for (scope, name), state in sorted(current.items())],
        "history": [r.as_dict() for r in history],
    }, indent=2, sort_keys=True))
    return 0


def reconsent_command(args: argparse.Namespace) -> int:
    with Pipeline.from_config(config_from_args(args)) as pipeline:
        due = pipeline.reconsent_due(args.at)
    if args.json:
        print(json.dumps([{"subject": d.subject_key, "reasons": list(d.reasons),
                           "items": list(d.items)} for d in due], indent=2))
    else:
        for item in due:
            print(f"{item.subject_key}  {','.join(item.reasons):<28} {' '.join(item.items)}")
        print(f"{len(due)} subject(s) due for re-consent", file=sys.stderr)
    return 0
