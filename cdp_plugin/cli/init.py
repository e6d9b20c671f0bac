"""`cdp-plugin init`: an editable copy of the built-in rules and an example configuration.

No half-applied init: without ``--force`` any file that already exists stops
the command (exit 2, naming each one) before anything is written, and the
files are staged beside their targets and renamed into place only once all of
them are written.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from cdp_plugin.config import EXAMPLE_CONFIG, EXAMPLE_FILE
from cdp_plugin.rules.builtin import DEFAULT_RULES_DIR, builtin_rules
from cdp_plugin.rules.loader import OPTIONAL_FILES, RULE_FILES


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init", help="write an editable copy of the built-in rules and an example configuration",
        description=f"Write the built-in rules to DIR/{DEFAULT_RULES_DIR}/ and a commented "
                    f"configuration file, DIR/{EXAMPLE_FILE}, that sets every key to its "
                    "default. Refuses (exit 2) if any of these files exists, unless --force.")
    init.add_argument("directory", nargs="?", default=".", metavar="DIR",
                      help="where to write them (default: the working directory)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.set_defaults(handler=init_command)


def planned_files(directory: Path) -> dict[Path, bytes]:
    """Every file ``init`` writes under ``directory``, with its contents."""
    builtin = builtin_rules()
    files = {directory / DEFAULT_RULES_DIR / name: builtin.joinpath(name).read_bytes()
             for name in (*RULE_FILES, *OPTIONAL_FILES)}
    files[directory / EXAMPLE_FILE] = EXAMPLE_CONFIG.encode()
    return files


def init_command(args: argparse.Namespace) -> int:
    files = planned_files(Path(args.directory))
    blocked = [path for path in files if path.exists() and not path.is_file()]
    blocked += [path.parent for path in files
                if path.parent.exists() and not path.parent.is_dir()]
    for path in dict.fromkeys(blocked):
        kind = "a directory" if path.is_dir() else "not a directory"
        print(f"cdp-plugin: {path} is {kind}; nothing written", file=sys.stderr)
    if blocked:
        return 2
    existing = [path for path in files if path.exists()]
    if existing and not args.force:
        for path in existing:
            print(f"cdp-plugin: {path} already exists", file=sys.stderr)
        print("cdp-plugin: nothing written; use --force to overwrite", file=sys.stderr)
        return 2
    try:
        staged = _stage(files)
    except OSError as exc:
        print(f"cdp-plugin: cannot write {exc.filename}: {exc.strerror}; nothing written",
              file=sys.stderr)
        return 1
    try:
        for path, temporary in staged.items():
            os.replace(temporary, path)
    except OSError as exc:
        print(f"cdp-plugin: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    for path in files:
        print(f"wrote {path}")
    rules = Path(args.directory) / DEFAULT_RULES_DIR
    config = Path(args.directory) / EXAMPLE_FILE
    print(f"\nedit the rules, then check them:  cdp-plugin rules check {rules}")
    print(f"use them:                         cdp-plugin run EVENTS.jsonl --out OUT.jsonl "
          f"--config {config}")
    return 0


def _stage(files: Mapping[Path, bytes]) -> dict[Path, Path]:
    """Write every file to a temporary name beside its target; map target to temporary.

    On failure what was staged is removed and the targets are untouched; the
    error propagates.
    """
    staged: dict[Path, Path] = {}
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            staged[path] = temporary
            with open(temporary, "xb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
        raise
    return staged
