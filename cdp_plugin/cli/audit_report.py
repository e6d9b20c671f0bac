"""`cdp-plugin audit report`: the governance review of a directory of audit logs.

Writes one self-contained HTML page and, optionally, the same data as JSON.
Exit codes: 0 when the report is written and every log verified (or no key
was given, so none was checked); 1 when the report is written but a log
failed verification, or an output or log file cannot be read or written;
2 on bad usage: no output asked for, a directory without logs, or a key that
is neither a verifier key nor a readable file holding one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cdp_plugin.audit.html import render_html
from cdp_plugin.audit.note import NoteError, NoteVerifier
from cdp_plugin.audit.report import build_report, report_json
from cdp_plugin.errors import ConfigError

_PREFIX = "cdp-plugin audit report"


def register_report(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` command to the ``audit`` command's sub-commands."""
    report = actions.add_parser(
        "report", help="write the governance report (HTML, optionally JSON) for audit logs",
        description="Aggregate every audit log under DIR (or DIR itself if it is one log) into "
                    "a report for governance reviewers: decisions over time, drop and "
                    "quarantine reasons, consent rates by purpose and jurisdiction, segment "
                    "drift, rule-set changes, errors and minimization. The HTML page is self-"
                    "contained. Exits 1 if a log fails verification (the report is still "
                    "written), 2 on bad usage.")
    report.add_argument("directory", metavar="DIR", help="audit directory, or one log directory")
    report.add_argument("--html", metavar="OUT.html", dest="html_out",
                        help="write the HTML report here")
    report.add_argument("--json", metavar="OUT.json", dest="json_out",
                        help="write the report data as JSON here (- for stdout)")
    report.add_argument("--key", metavar="VKEY", dest="keys", action="append", default=[],
                        help="verifier key text, or a file holding one; repeat for logs signed "
                             "by different keys. Without a key the logs are reported as not "
                             "verified.")
    report.set_defaults(handler=report_command)


def load_verifier(value: str) -> NoteVerifier:
    """A verifier from key text or from a file holding it; ``ConfigError`` if neither works.

    The message names the file, never the key text.
    """
    path, source, text = Path(value), "--key", value
    try:
        is_file = path.is_file()
    except OSError:  # e.g. key text too long to be a file name
        is_file = False
    if is_file:
        try:
            source, text = f"--key file {path}", path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--key file {path}: cannot read it ({type(exc).__name__})") from None
    if text.strip().startswith("PRIVATE+KEY+"):
        raise ConfigError(f"{source}: this is a signer (private) key; give its verifier key")
    try:
        return NoteVerifier(text)
    except NoteError as exc:
        raise ConfigError(f"{source}: not a verifier key ({exc})") from None


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    # A lone surrogate (a \\uD8xx escape in a record) is written back as that escape.
    Path(target).write_text(text, encoding="utf-8", errors="backslashreplace")


def report_command(args: argparse.Namespace) -> int:
    """Build the report and write the outputs; returns the exit code (see the module doc)."""
    if not args.html_out and not args.json_out:
        print(f"{_PREFIX}: give --html OUT.html and/or --json OUT.json", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        verifiers = [load_verifier(key) for key in args.keys]
        report = build_report(Path(args.directory), verifiers)
    except ConfigError as exc:
        print(f"{_PREFIX}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{_PREFIX}: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    written = []
    try:
        if args.html_out:
            _write(args.html_out, render_html(report))
            written.append(args.html_out)
        if args.json_out:
            _write(args.json_out, report_json(report))
            written.append(args.json_out)
    except OSError as exc:
        print(f"{_PREFIX}: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    scope = report["scope"]
    status = scope["verification"]["status"]
    out = sys.stderr if args.json_out == "-" else sys.stdout
    print(f"{scope['records']} records in {len(scope['logs'])} log(s), {status}, "
          f"in {time.monotonic() - started:.1f} s: {', '.join(written)}", file=out)
    for log in scope["logs"]:
        if log["verification"]["status"] == "failed":
            print(f"{_PREFIX}: {log['name']}: {log['verification']['detail']}", file=sys.stderr)
    return 1 if status == "failed" else 0
