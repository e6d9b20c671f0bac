"""Shared fixtures: a fresh pipeline per test on temporary storage, and audit-log readers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "rules"

MakePipeline = Callable[..., Pipeline]


ISOLATED = ("CDP_PLUGIN_MASTER_KEY", "CDP_PLUGIN_AUDIT_SIGNING_KEY", "CDP_PLUGIN_STORE",
            "CDP_PLUGIN_DATA_DIR", "CDP_PLUGIN_RULES_DIR", "CDP_PLUGIN_AUDIT_DIR",
            "CDP_PLUGIN_WORKER_ID", "CDP_PLUGIN_BLOCKED_PLUGINS")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up keys or settings from the developer's environment."""
    for name in ISOLATED:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path / "data", rules_dir=RULES_DIR, audit_dir=tmp_path / "audits",
                  load_entrypoints=False, checkpoint_interval=3600.0)


@pytest.fixture
def make_pipeline(config: Config) -> Iterator[MakePipeline]:
    """Build pipelines on the test's temporary storage; all are closed afterwards."""
    made: list[Pipeline] = []

    def make(*plugins: object, **overrides: Any) -> Pipeline:
        pipeline = Pipeline.from_config(config.with_overrides(**overrides), plugins=plugins)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()


def audit_lines(pipeline: Pipeline) -> list[bytes]:
    """The raw record lines of a pipeline's audit log, in order."""
    directory = pipeline.runtime.audit_log.directory
    lines: list[bytes] = []
    for segment in sorted(directory.glob("segment-*.jsonl")):
        lines.extend(segment.read_bytes().splitlines())
    return lines


def audit_records(pipeline: Pipeline, kind: str | None = None) -> list[dict[str, Any]]:
    """The parsed audit records, optionally only those of one kind."""
    pipeline.runtime.audit_log.flush()
    records = [json.loads(line) for line in audit_lines(pipeline)]
    return [r for r in records if kind is None or r["kind"] == kind]
