"""`cdp-plugin subject export|erase`: access and erasure requests for one subject."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from cdp_plugin.callbacks.outbox import Outbox
from cdp_plugin.callbacks.settings import load_settings
from cdp_plugin.callbacks.subjects import erase_subject, export_subject
from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.pipeline import Pipeline


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subject = commands.add_parser(
        "subject", help="export or erase everything held about one subject",
        description="Access and erasure requests. The subject is looked up by the keyed "
                    "pseudonym of its id; the raw id is not stored.")
    actions = subject.add_subparsers(dest="subject_command", metavar="COMMAND", required=True)
    export = actions.add_parser(
        "export", help="print everything held about the subject as JSON",
        description="Print the subject's consent history and current preferences, segment "
                    "tags with explanations, stored features, quarantined events and counts "
                    "of forwarded events, as JSON. The access is audited.")
    export.add_argument("subject_id", metavar="ID", help="the subject's user or anonymous id")
    export.add_argument("--out", metavar="FILE",
                        help="write to FILE (created owner-only) instead of standard output")
    add_config_options(export)
    export.set_defaults(handler=export_command)

    erase = actions.add_parser(
        "erase", help="erase the subject (irreversible) and print the tombstone",
        description="Withdraw all consent, crypto-shred the subject's data keys, delete the "
                    "profile, quarantined events, sends and pending opt-ins, queue erasure "
                    "notices for the configured destinations, keep a pseudonymous tombstone "
                    "and audit it all. Prints the erasure record as JSON.")
    erase.add_argument("subject_id", metavar="ID", help="the subject's user or anonymous id")
    erase.add_argument("--no-deliver", action="store_true",
                       help="only queue the erasure notices (a running serve delivers them)")
    add_config_options(erase)
    erase.set_defaults(handler=erase_command)


def export_command(args: argparse.Namespace) -> int:
    with Pipeline.from_config(config_from_args(args)) as pipeline:
        data = export_subject(pipeline, args.subject_id, datetime.now(UTC))
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    # The export is personal data: readable by the owner only.
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


def erase_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    with Pipeline.from_config(config) as pipeline:
        settings = load_settings(config, pipeline.runtime.rules)
        erasure = erase_subject(pipeline, settings, args.subject_id, datetime.now(UTC))
        assert erasure is not None  # only a webhook id can make it a duplicate
        result = erasure.as_dict()
        if erasure.notices and not args.no_deliver:
            report = Outbox(pipeline, settings).deliver_due()
            result["delivery"] = {"delivered": report.delivered, "retrying": report.retried,
                                  "dead": report.dead}
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
