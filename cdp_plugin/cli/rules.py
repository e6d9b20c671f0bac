"""`cdp-plugin rules check`: validate a rules directory without running anything."""

from __future__ import annotations

import argparse
import sys

from cdp_plugin.cli.common import rules_path
from cdp_plugin.errors import RulesError
from cdp_plugin.rules.loader import load_rules


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = commands.add_parser("rules", help="work with the rules directory",
                                description="Validate the declarative rules.")
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


def check_command(args: argparse.Namespace) -> int:
    directory = rules_path(args.directory)
    try:
        ruleset = load_rules(directory)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(f"{directory}: OK (rules version {ruleset.version})")
    for name, digest in sorted(ruleset.file_hashes.items()):
        print(f"  {name:<20} sha256:{digest}")
    return 0
