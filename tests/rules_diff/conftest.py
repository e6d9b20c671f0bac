"""The demo stream as an events file, copies of the shipped rules with one edit, and
runs of the plain pipeline that count what the diff should find."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.synthetic import generate_stream, write_jsonl
from cdp_plugin.types import Outcome
from tests.conftest import RULES_DIR

SEED, SUBJECTS, DAYS = 5, 30, 30


@pytest.fixture(scope="session")
def demo_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's events (as ``cdp-plugin demo`` writes events.jsonl) in a JSONL file."""
    path = tmp_path_factory.mktemp("demo") / "events.jsonl"
    assert write_jsonl(generate_stream(seed=SEED, subjects=SUBJECTS, days=DAYS), path) > 1000
    return path


def demo_messages(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


EditRules = Callable[[str, str, str, str], Path]


@pytest.fixture
def edited_rules(tmp_path: Path) -> EditRules:
    """``edit(name, file, old, new)``: a copy of the shipped rules named ``name`` with
    the one occurrence of ``old`` in ``file`` replaced by ``new``."""

    def edit(name: str, file: str, old: str, new: str) -> Path:
        target = tmp_path / name
        shutil.copytree(RULES_DIR, target)
        text = (target / file).read_text("utf-8")
        assert text.count(old) == 1, f"{old!r} is not once in {file}"
        (target / file).write_text(text.replace(old, new), "utf-8")
        return target

    return edit


@pytest.fixture
def plain_outcomes(tmp_path: Path) -> Iterator[Callable[[Path, Path], list[Outcome]]]:
    """``run(rules, events)``: each event's outcome from one ordinary pipeline on
    ``rules``, dated like the replay (each event at its own time): the independent
    count the diff is checked against."""
    count = 0

    def run(rules: Path, events: Path) -> list[Outcome]:
        nonlocal count
        count += 1
        root = tmp_path / f"plain-{count}"
        (root / "data").mkdir(parents=True)
        (root / "data" / "master.key").write_text(
            base64.b64encode(bytes(range(32))).decode("ascii"), encoding="ascii")
        config = Config(data_dir=root / "data", audit_dir=root / "audits", rules_dir=rules,
                        load_entrypoints=False, audit_fsync=False)
        clock = _LatestTime()
        with Pipeline.from_config(config, clock=clock, env={}) as pipeline:
            outcomes = []
            for message in demo_messages(events):
                clock.see(message)
                outcomes.append(pipeline.process(message))
        return outcomes

    yield run


class _LatestTime:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def see(self, message: dict[str, Any]) -> None:
        try:
            at = datetime.fromisoformat(message["timestamp"])
        except (KeyError, TypeError, ValueError):
            return
        if at.utcoffset() is not None:
            self.now = max(self.now, at)

    def __call__(self) -> datetime:
        return self.now
