"""Pytest fixtures for authors of cdp_plugin plugins, loaded through the ``pytest11`` entry point.

Installing ``cdp-plugin`` makes these fixtures available to every pytest run in
that environment (``-p no:cdp_plugin`` turns them off):

* ``cdp_rules_dir``: the rules directory the pipelines load. The ``cdp_rules_dir``
  ini option names one (relative to the ini file); without it, the rules
  that ship with the package. Override the fixture to
  generate rules per test.
* ``cdp_config``: a :class:`~cdp_plugin.config.Config` on the test's
  ``tmp_path``: the SQLite store and development keys in ``tmp_path/data``,
  the audit log in ``tmp_path/audits``, no entry-point plugins (only those the
  test passes run), no fsync, and checkpoints only by count and at close so
  runs are deterministic. Key and settings variables of the developer's
  environment (``CDP_PLUGIN_MASTER_KEY``...) are unset for the test.
* ``cdp_pipeline_factory``: call it with plugin objects (modules, instances),
  ``blocked=`` plugin names, ``clock=`` and any ``Config`` field as a keyword
  override to get a :class:`~cdp_plugin.pipeline.Pipeline`; every pipeline it
  built is closed at teardown.
* ``cdp_audit_records``: call it with a pipeline (and optionally a record
  ``kind``) to get the audit records it wrote, parsed, in order.

Importing this module loads only pytest and :mod:`cdp_plugin.markers`: the
pipeline, the store and the key material are imported when a fixture first
needs them, so projects that never use the fixtures pay nothing at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from cdp_plugin.config import Config
    from cdp_plugin.pipeline import Clock, Pipeline

RULES_DIR_OPTION = "cdp_rules_dir"
SETTINGS_ENV = (
    "CDP_PLUGIN_MASTER_KEY", "CDP_PLUGIN_AUDIT_SIGNING_KEY", "CDP_PLUGIN_STORE",
    "CDP_PLUGIN_DATA_DIR", "CDP_PLUGIN_RULES_DIR", "CDP_PLUGIN_AUDIT_DIR",
    "CDP_PLUGIN_WORKER_ID", "CDP_PLUGIN_BLOCKED_PLUGINS", "CDP_PLUGIN_MASTER_KEY_FILE",
    "CDP_PLUGIN_AUDIT_SIGNING_KEY_FILE",
)
"""Variables that would change a pipeline's keys or settings; ``cdp_config`` unsets them."""


class PipelineFactory(Protocol):
    """What ``cdp_pipeline_factory`` gives: builds a pipeline, closed at teardown."""

    def __call__(self, *plugins: object, blocked: Iterable[str] = (),
                 clock: Clock | None = None, **overrides: Any) -> Pipeline: ...


class AuditReader(Protocol):
    """What ``cdp_audit_records`` gives: a pipeline's audit records, optionally of one kind."""

    def __call__(self, pipeline: Pipeline, kind: str | None = None) -> list[dict[str, Any]]: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(RULES_DIR_OPTION, "rules directory of the cdp_config fixture (default: "
                  "the rules that ship with cdp_plugin)", type="paths")


def default_rules_dir() -> Path:
    """The rules that ship with the package (package data in a wheel, ``rules/`` in a
    source checkout)."""
    from cdp_plugin.rules.builtin import builtin_rules

    return Path(str(builtin_rules()))


def isolate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset :data:`SETTINGS_ENV` for the test, so no developer key or setting leaks in."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)


def audit_lines(pipeline: Pipeline) -> list[bytes]:
    """The raw record lines of a pipeline's audit log, in order (unflushed records excluded)."""
    from cdp_plugin.audit.layout import list_segments

    lines: list[bytes] = []
    for segment in list_segments(pipeline.runtime.audit_log.directory):
        lines.extend(segment.read_bytes().splitlines())
    return lines


def audit_records(pipeline: Pipeline, kind: str | None = None) -> list[dict[str, Any]]:
    """The pipeline's audit records, parsed, in order; only those of ``kind`` if given.

    Flushes an open log first, so every record appended so far is included;
    a closed pipeline's log is read as it was left. Raises ``AuditError`` if
    the log failed earlier.
    """
    log = pipeline.runtime.audit_log
    if not log.closed:
        log.flush()
    records = [json.loads(line) for line in audit_lines(pipeline)]
    return [record for record in records if kind is None or record["kind"] == kind]


@pytest.fixture
def cdp_rules_dir(request: pytest.FixtureRequest) -> Path:
    """The rules directory the pipelines load: the ``cdp_rules_dir`` ini option, else the
    default rules of the source checkout; fails the test, saying how to set one, if neither
    exists."""
    configured: list[Path] = request.config.getini(RULES_DIR_OPTION)
    rules = configured[0] if configured else default_rules_dir()
    if not rules.is_dir():
        pytest.fail(f"cdp_rules_dir: {rules} is not a directory; set the "
                    f"{RULES_DIR_OPTION!r} ini option or override the fixture", pytrace=False)
    return rules


@pytest.fixture
def cdp_config(tmp_path: Path, cdp_rules_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """A configuration on ``tmp_path``: SQLite, development keys, no entry points, no fsync."""
    from cdp_plugin.config import Config

    isolate_environment(monkeypatch)
    return Config(data_dir=tmp_path / "data", rules_dir=cdp_rules_dir,
                  audit_dir=tmp_path / "audits", load_entrypoints=False, audit_fsync=False,
                  checkpoint_interval=3600.0)


@pytest.fixture
def cdp_pipeline_factory(cdp_config: Config) -> Iterator[PipelineFactory]:
    """Build pipelines on ``cdp_config`` with extra plugins, blocked names and overrides;
    all of them are closed at teardown, in the order they were built."""
    from cdp_plugin.pipeline import Pipeline

    made: list[Pipeline] = []

    def make(*plugins: object, blocked: Iterable[str] = (), clock: Clock | None = None,
             **overrides: Any) -> Pipeline:
        config = cdp_config.with_overrides(**overrides)
        if blocked:
            config = config.with_overrides(blocked_plugins=(*config.blocked_plugins, *blocked))
        pipeline = (Pipeline.from_config(config, plugins=plugins) if clock is None
                    else Pipeline.from_config(config, plugins=plugins, clock=clock))
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()


@pytest.fixture
def cdp_audit_records() -> AuditReader:
    """Read the audit records a pipeline wrote: ``cdp_audit_records(pipeline, kind=None)``."""
    return audit_records
