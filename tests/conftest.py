"""Shared fixtures: the shipped ones of :mod:`cdp_plugin.testing` under the names the tests use.

``config`` is ``cdp_config`` and ``make_pipeline`` is ``cdp_pipeline_factory``: a
fresh pipeline per test on temporary storage. ``audit_lines`` and
``audit_records`` read what a pipeline wrote to its audit log.
"""

from __future__ import annotations

import subprocess
import sys
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


def assert_audit_verifies(tmp_path: Path, *worker: str) -> None:
    """``cdp-plugin audit verify`` (a process of its own) accepts the logs under
    ``tmp_path/audits``, with the verifier key of the worker (``--worker-id ID``)
    whose data and audit directories are ``tmp_path/data`` and ``tmp_path/audits``."""
    places = ["--data-dir", str(tmp_path / "data"), "--audit-dir", str(tmp_path / "audits"),
              *worker]
    key = subprocess.run([sys.executable, "-m", "cdp_plugin.cli", "audit", "key", *places],
                         capture_output=True, text=True, check=True).stdout.strip()
    verify = subprocess.run([sys.executable, "-m", "cdp_plugin.cli", "audit", "verify",
                             str(tmp_path / "audits"), "--key", key],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


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
