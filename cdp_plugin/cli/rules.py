"""`cdp-plugin rules check` validates a rules directory without running anything;
`cdp-plugin rules diff` replays events through two rule sets (:mod:`cdp_plugin.rules_diff`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cdp_plugin.cli.common import rules_path
from cdp_plugin.config import load_config
from cdp_plugin.errors import ConfigError, RulesError
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.rules_diff import ReplaySettings, diff_rules
from cdp_plugin.rules_diff.rendering import render_html, render_json, render_text


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = commands.add_parser(
        "rules", help="work with the rules directory",
        description="Validate the declarative rules, or test a change of them.")
    actions = rules.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    check = actions.add_parser(
        "check", help="validate every rules file and report all problems",
        description="Load and compile every file in the rules directory. Prints each problem "
                    "with file, line and key, and exits 1 if there is any; exits 2 if DIR "
                    "does not exist.")
    check.add_argument("directory", nargs="?", metavar="DIR",
                       help="rules directory (default: rules if it exists, else the built-in "
                            "rules)")
    check.set_defaults(handler=check_command)

    diff = actions.add_parser(
        "diff", help="replay events through two rule sets and report what would change",
        description="Replay EVENTS.jsonl (as 'cdp-plugin run' reads it) through the rules of "
                    "OLD_DIR and of NEW_DIR, each on throwaway storage with a key of its "
                    "own (the deployment's store, keys and audit log are never opened), and "
                    "report the messages whose status would change, the destinations and "
                    "fields they would reach, and the segment sizes. Exits 0 when it ran, "
                    "whatever it found; 2 if a rules directory or the events file is bad.")
    diff.add_argument("old", metavar="OLD_DIR", help="the rules in force")
    diff.add_argument("new", metavar="NEW_DIR", help="the changed rules")
    diff.add_argument("events", metavar="EVENTS.jsonl", help="the events to replay")
    diff.add_argument("--json", action="store_true",
                      help="print the diff as JSON instead of the text summary")
    diff.add_argument("--html", metavar="OUT", help="also write the diff as an HTML page")
    diff.add_argument("--config", metavar="FILE",
                      help="configuration file whose blocked plugins, quarantine limits and "
                           "plugin settings the replay uses (nothing else is taken from it)")
    diff.set_defaults(handler=diff_command)


def _report_problems(exc: RulesError, directories: str) -> None:
    """Each problem on stderr with file, line and key, then how many and where."""
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    print(f"{len(exc.problems)} problem(s) in {directories}", file=sys.stderr)


def check_command(args: argparse.Namespace) -> int:
    directory = rules_path(args.directory)
    try:
        ruleset = load_rules(directory)
    except RulesError as exc:
        _report_problems(exc, str(directory))
        return 1
    print(f"{directory}: OK (rules version {ruleset.version})")
    for name, digest in sorted(ruleset.file_hashes.items()):
        print(f"  {name:<20} sha256:{digest}")
    return 0


def diff_command(args: argparse.Namespace) -> int:
    """``rules diff``: 0 when the replay ran (differences or not), 2 on bad input."""
    old, new = rules_path(args.old), rules_path(args.new)
    settings = ReplaySettings.from_config(load_config(args.config))
    try:
        diff = diff_rules(old, new, Path(args.events), settings=settings)
    except RulesError as exc:
        _report_problems(exc, f"{old} and {new}")
        return 2
    if args.html:
        try:
            Path(args.html).write_text(render_html(diff), encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"--html {args.html}: cannot be written: "
                              f"{error.strerror or type(error).__name__}") from None
    sys.stdout.write(render_json(diff) if args.json else render_text(diff))
    return 0
