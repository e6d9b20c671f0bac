"""Shared fixtures: the shipped ones of :mod:`cdp_plugin.testing` under the names the tests use.

``config`` is ``cdp_config`` and ``make_pipeline`` is ``cdp_pipeline_factory``: a
fresh pipeline per test on temporary storage. ``audit_lines`` and
``audit_records`` read what a pipeline wrote to its audit log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_plugin import testing
from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.testing import PipelineFactory, audit_lines, audit_records

__all__ = ["REPO", "RULES_DIR", "MakePipeline", "audit_lines", "audit_records", "message_keys"]

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "rules"

MakePipeline = PipelineFactory


def message_keys(pipeline: Pipeline, *message_ids: str) -> list[str]:
    """The keyed stand-ins the store and the audit log hold for client messageIds."""
    return [pipeline.runtime.pseudonymizer.message(m) for m in message_ids]


def pytest_configure(config: pytest.Config) -> None:
    # The pytest11 entry point normally loads the fixtures; an install made before the
    # entry point existed (or with plugin autoloading off) still gets them here.
    if not config.pluginmanager.has_plugin("cdp_plugin"):
        config.pluginmanager.register(testing, "cdp_plugin")


ISOLATED = testing.SETTINGS_ENV
"""The settings variables no test may pick up from the developer's environment."""


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up keys or settings from the developer's environment."""
    testing.isolate_environment(monkeypatch)


@pytest.fixture
def config(cdp_config: Config) -> Config:
    return cdp_config


@pytest.fixture
def make_pipeline(cdp_pipeline_factory: PipelineFactory) -> PipelineFactory:
    """Build pipelines on the test's temporary storage; all are closed afterwards."""
    return cdp_pipeline_factory
