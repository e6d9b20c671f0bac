"""Helpers shared by the CLI commands: configuration options, progress, summaries."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from cdp_plugin.config import Config, load_config
from cdp_plugin.rules.builtin import BUILTIN_NOTICE, locate_rules
from cdp_plugin.types import Outcome, Status


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that builds a pipeline accepts."""
    group = parser.add_argument_group("configuration")
    group.add_argument("--config", metavar="FILE", help="YAML configuration file")
    group.add_argument("--store", metavar="DSN",
                       help="postgresql:// DSN or SQLite path (default: DATA_DIR/cdp.sqlite3)")
    group.add_argument("--rules", metavar="DIR", dest="rules_dir", help="rules directory")
    group.add_argument("--data-dir", metavar="DIR",
                       help="keys and SQLite store (default .cdp_plugin)")
    group.add_argument("--audit-dir", metavar="DIR", help="audit logs (default audits)")
    group.add_argument("--worker-id", metavar="ID", help="this process's audit log origin suffix")


def config_from_args(args: argparse.Namespace, *, needs_rules: bool = True) -> Config:
    """Defaults, then the file, then the environment, then the flags.

    With ``needs_rules`` the result names the rules directory to load: the
    configured one (which must exist, else :class:`ConfigError`), or with none
    configured ``rules`` if it exists, else the built-in rules, which it says
    on stderr. Commands that read no rules pass ``needs_rules=False``.
    """
    config = load_config(args.config).with_overrides(
        store=args.store, rules_dir=args.rules_dir, data_dir=args.data_dir,
        audit_dir=args.audit_dir, worker_id=args.worker_id,
    )
    if not needs_rules:
        return config
    return config.with_overrides(rules_dir=rules_path(config.rules_dir))


def rules_path(rules_dir: str | Path | None) -> Path:
    """The rules directory a command loads (see :func:`locate_rules`), saying on stderr
    when it is the built-in one."""
    location = locate_rules(rules_dir)
    if location.builtin:
        print(BUILTIN_NOTICE, file=sys.stderr)
    return location.path


UNMAPPED_PREFIX = "consent.unmapped:"
UNMAPPED_NAMES = 50
"""Distinct unmapped category names the summary lists; the rest count as ``<other>``."""


class Summary:
    """Counts of outcomes by status and by drop or quarantine reason, and of the
    events naming each consent category the rules do not map."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.reasons: dict[str, Counter[str]] = {}
        self.settled: Counter[str] = Counter()
        self.unmapped: Counter[str] = Counter()

    def add(self, outcomes: Iterable[Outcome], *, first_seen: bool = True) -> None:
        for outcome in outcomes:
            self.statuses[outcome.status.value] += 1
            reasons = [r for r in outcome.reasons if not r.startswith(UNMAPPED_PREFIX)]
            if first_seen:
                for reason in outcome.reasons:
                    if reason.startswith(UNMAPPED_PREFIX):
                        self._count_unmapped(reason.removeprefix(UNMAPPED_PREFIX))
            if outcome.status is not Status.FORWARDED:
                bucket = self.reasons.setdefault(outcome.status.value, Counter())
                bucket.update(reasons)

    def _count_unmapped(self, name: str) -> None:
        if name not in self.unmapped and len(self.unmapped) >= UNMAPPED_NAMES:
            name = "<other>"
        self.unmapped[name] += 1

    def add_released(self, outcomes: Iterable[Outcome]) -> None:
        """Held events settled by a consent change: no longer quarantined."""
        for outcome in outcomes:
            self.statuses[Status.QUARANTINED.value] -= 1
            self.reasons[Status.QUARANTINED.value]["consent.unknown"] -= 1
            key = "released" if outcome.status is Status.FORWARDED else "purged"
            self.settled[key] += 1
        self.add(outcomes, first_seen=False)

    @property
    def processed(self) -> int:
        return sum(self.statuses.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            **{status.value: self.statuses.get(status.value, 0) for status in Status},
            "reasons": {status: dict(sorted((r, n) for r, n in counts.items() if n))
                        for status, counts in sorted(self.reasons.items())},
            "quarantine_settled": {"released": self.settled["released"],
                                   "purged": self.settled["purged"]},
            "unmapped_consent_categories": dict(sorted(self.unmapped.items())),
        }

    def render(self) -> str:
        data = self.as_dict()
        lines = [f"processed    {data['processed']}"]
        for status in Status:
            lines.append(f"{status.value:<12} {data[status.value]}")
            for reason, count in data["reasons"].get(status.value, {}).items():
                lines.append(f"  {reason:<40} {count}")
        settled = data["quarantine_settled"]
        lines.append(f"held events later released {settled['released']}, "
                     f"purged {settled['purged']} (counted above under their final status)")
        if data["unmapped_consent_categories"]:
            lines.append("consent categories the rules do not map (events naming each; "
                         "add them to signals.segment_categories or a preset):")
            for name, count in data["unmapped_consent_categories"].items():
                lines.append(f"  {name:<40} {count}")
        return "\n".join(lines)

    def emit(self, as_json: bool, stream: IO[str] | None = None) -> None:
        stream = stream or sys.stdout
        if as_json:
            stream.write(json.dumps(self.as_dict(), sort_keys=True) + "\n")
        else:
            stream.write(self.render() + "\n")


class Progress:
    """A one-line progress display on a terminal; silent otherwise."""

    def __init__(self, total_bytes: int | None = None, stream: IO[str] | None = None) -> None:
        stream = stream or sys.stderr
        self.enabled = stream.isatty()
        self.total = total_bytes
        self.stream = stream
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, events: int, done_bytes: int | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.2):
            return
        self._last = now
        rate = events / max(now - self.started, 1e-9)
        line = f"{events:>10} events  {rate:>9.0f}/s"
        if self.total and done_bytes is not None:
            fraction = min(done_bytes / self.total, 1.0)
            filled = int(fraction * 30)
            line = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:>4.0%} " + line
        self.stream.write("\r" + line)
        self.stream.flush()

    def finish(self, events: int) -> None:
        if self.enabled:
            self.update(events, self.total, force=True)
            self.stream.write("\n")
