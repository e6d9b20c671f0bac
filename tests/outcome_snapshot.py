"""What the pipeline decides for the demo stream, in a form two runs can compare line
by line: the outcome-equivalence check behind every performance change.

One line per event: its messageId (the first 12 characters), status,
reasons, destinations, and the SHA-256 of its forwarded payload and of each
destination's delivery (canonical JSON, ``enc1:`` ciphertexts, whose nonces
are random, replaced by ``<enc1>``); after each batch, how many audit
records of each kind it caused. The stream, the master key and the clock
(each item's arrival time) are fixed, so the lines repeat exactly.

Regenerate the committed copy, after a change that is meant to alter outcomes
(say why in the commit)::

    python -m tests.outcome_snapshot > tests/data/demo_outcomes.txt
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from cdp_plugin import hookimpl
from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.synthetic import generate_stream
from cdp_plugin.types import AuditEntry

REPO = Path(__file__).resolve().parents[1]
SEED, SUBJECTS, DAYS, BATCH = 5, 30, 30, 50
_CIPHERTEXT = re.compile(r"enc1:[A-Za-z0-9_\-=:.+/]+")


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.fromisoformat("2026-01-01T00:00:00+00:00")

    def __call__(self) -> datetime:
        return self.now


class _Kinds:
    """Collects the kinds of the audit records written since the last take."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    @hookimpl
    def cdp_audit_record_written(self, entry: AuditEntry) -> None:
        self.kinds.append(entry.kind)

    def take(self) -> list[str]:
        taken, self.kinds = self.kinds, []
        return taken


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(_CIPHERTEXT.sub("<enc1>", text).encode()).hexdigest()[:12]


def snapshot(root: Path) -> Iterator[str]:
    """The lines for the demo stream, on fresh storage under ``root``."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "master.key").write_text(base64.b64encode(bytes(range(32))).decode("ascii"),
                                     encoding="ascii")
    config = Config(data_dir=data, audit_dir=root / "audits", rules_dir=REPO / "rules",
                    load_entrypoints=False, audit_fsync=False)
    kinds = _Kinds()
    clock = _Clock()
    with Pipeline.from_config(config, plugins=[kinds], clock=clock) as pipeline:
        batch: list[dict[str, Any]] = []

        def flush() -> Iterator[str]:
            if not batch:
                return
            outcomes = pipeline.process_batch(list(batch))
            written = kinds.take()
            for outcome in outcomes:
                deliveries = {name: _digest(p) for name, p in sorted(outcome.deliveries.items())}
                yield json.dumps([(outcome.message_id or "")[:12], outcome.status.value,
                                  list(outcome.reasons), sorted(outcome.destinations),
                                  None if outcome.event is None else _digest(outcome.event),
                                  deliveries], ensure_ascii=False)
            yield json.dumps(["batch", dict(sorted(Counter(written).items()))])
            batch.clear()

        for item in generate_stream(seed=SEED, subjects=SUBJECTS, days=DAYS):
            clock.now = max(clock.now, item.at)
            if item.event is not None:
                batch.append(item.event)
                if len(batch) >= BATCH:
                    yield from flush()
            elif item.preference is not None:
                yield from flush()
                result = pipeline.record_consent(item.preference)
                yield json.dumps(["consent", [c.purpose for c in result.changes],
                                  [o.status.value for o in result.released],
                                  dict(sorted(Counter(kinds.take()).items()))])
        yield from flush()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for line in snapshot(Path(tmp)):
            sys.stdout.write(line + "\n")
