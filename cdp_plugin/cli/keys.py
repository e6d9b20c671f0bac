"""`cdp-plugin keys status` and `cdp-plugin keys rotate`: master keys and per-subject data keys."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.keys.keyring import Keyring, KeyStatus
from cdp_plugin.keys.master import MASTER_KEY_ENV, load_master_keys
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.storage import open_store


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser(
        "keys", help="master keys and per-subject data keys",
        description=f"Inspect and rotate keys. Master keys come from {MASTER_KEY_ENV} or the "
                    "master key file: one base64 key, or 'id:base64' entries separated by "
                    "commas, newest first. The first is current; the last keys subject "
                    "pseudonyms and must stay listed.")
    actions = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    status = actions.add_parser(
        "status", help="print master key ids and data key counts (never key material)",
        description="Print the configured master key ids, which one is current, which one "
                    "keys subject pseudonyms, and how many data keys each master key wraps. "
                    "A count under an id that is not configured means those data keys "
                    "cannot be unwrapped until that key is listed again.")
    status.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(status)
    status.set_defaults(handler=status_command)

    rotate = actions.add_parser(
        "rotate", help="re-wrap data keys under the current master key",
        description="Re-wrap every subject's data keys under the current (first) master key "
                    "and start a new data key per subject for new writes. Old values still "
                    "decrypt. Afterwards, an older master key can be removed from the list "
                    "unless it is the last one (subject pseudonyms derive from it). Audited.")
    rotate.add_argument("--subject", metavar="SUBJECT_ID",
                        help="rotate only this subject (its user or anonymous id)")
    add_config_options(rotate)
    rotate.set_defaults(handler=rotate_command)


def _as_dict(status: KeyStatus) -> dict[str, Any]:
    return {"master_keys": list(status.master_key_ids), "current": status.current,
            "pseudonyms": status.pseudonym,
            "data_keys": dict(status.data_keys) if status.data_keys is not None else None,
            "subjects": status.subjects}


def render_status(status: KeyStatus) -> str:
    """The human-readable status: one line per master key id, then the counts."""
    lines = ["master keys (newest first):"]
    for key_id in status.master_key_ids:
        roles = [role for role, holder in (("current", status.current),
                                           ("subject pseudonyms", status.pseudonym))
                 if holder == key_id]
        lines.append(f"  {key_id:<34} {', '.join(roles)}".rstrip())
    lines.append(f"data keys by wrapping master key ({status.subjects} subject(s)):")
    known = set(status.master_key_ids)
    for key_id in (*status.master_key_ids,
                   *sorted(set(status.data_keys) - known)):
        note = "" if key_id in known else "  NOT CONFIGURED: these cannot be unwrapped"
        lines.append(f"  {key_id:<34} {status.data_keys.get(key_id, 0)}{note}")
    return "\n".join(lines)


def status_command(args: argparse.Namespace) -> int:
    config = config_from_args(args, needs_rules=False)
    masters = load_master_keys(config)
    store = open_store(config.store_target)
    try:
        status = Keyring(store, masters).status()
    finally:
        store.close()
    if args.json:
        print(json.dumps(_as_dict(status), indent=2, sort_keys=True))
    else:
        print(render_status(status))
    return 0


def rotate_command(args: argparse.Namespace) -> int:
    with Pipeline.from_config(config_from_args(args)) as pipeline:
        rotated = pipeline.rotate_keys(args.subject)
        current = pipeline.runtime.pseudonymizer.master_keys.current.key_id
    print(f"rotated the data keys of {rotated} subject(s) to master key {current}",
          file=sys.stderr)
    return 0
