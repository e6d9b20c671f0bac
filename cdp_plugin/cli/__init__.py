"""The ``cdp-plugin`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from cdp_plugin import __version__
from cdp_plugin.audit.refusal import AuditLogRefused
from cdp_plugin.cli import (
    audit,
    consent,
    delivery,
    experiments,
    gateway,
    init,
    keys,
    plugins,
    retention,
    rules,
    run,
    segments,
    serve,
    subject,
)
from cdp_plugin.errors import CdpPluginError, ConfigError, RulesError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdp-plugin",
        description="Consent- and preference-aware ingest for customer data platforms.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (run, init, rules, consent, segments, audit, keys, retention, subject, serve,
                   gateway, delivery, experiments, plugins):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 on failure, 2 on bad usage or configuration
    or an audit log the writer refuses to continue (running again changes nothing)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.handler(args)
    except (ConfigError, RulesError, AuditLogRefused) as exc:
        print(f"cdp-plugin: {exc}", file=sys.stderr)
        return 2
    except CdpPluginError as exc:
        print(f"cdp-plugin: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
