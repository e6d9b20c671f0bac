"""The pipeline decides the demo stream exactly as the committed snapshot says:
statuses, reasons, destinations, forwarded payloads, deliveries and audit record
kinds (see :mod:`tests.outcome_snapshot`). A performance change must leave it
unchanged; a change meant to alter outcomes regenerates it and says why."""

from __future__ import annotations

from pathlib import Path

from tests.outcome_snapshot import snapshot

COMMITTED = Path(__file__).with_name("data") / "demo_outcomes.txt"


def test_the_demo_stream_is_decided_as_the_snapshot_says(tmp_path: Path) -> None:
    expected = COMMITTED.read_text(encoding="utf-8").splitlines()
    actual = list(snapshot(tmp_path))
    for number, (want, got) in enumerate(zip(expected, actual, strict=False), 1):
        assert got == want, f"line {number} of {COMMITTED.name} differs"
    assert len(actual) == len(expected)
