"""A third-party plugin, built and installed as a real distribution, is loaded by entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp_plugin.config import Config
from cdp_plugin.errors import PluginError
from cdp_plugin.manager import make_plugin_manager
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import Status
from tests.events import ALL_GRANTED, track

PLUGIN_MODULE = '''
from cdp_plugin import hookimpl
from cdp_plugin.types import Decision

CONFIGURED = []


@hookimpl
def cdp_configure(runtime):
    CONFIGURED.append(runtime.config.worker_id)


@hookimpl
def cdp_decide(event):
    if event.name == "Internal Test Event":
        return Decision.drop("tiny_plugin.internal")
    return None
'''


def _build_and_install(tmp_path: Path, module_source: str) -> Path:
    """Build a wheel of a one-module distribution and install it into a fresh target dir."""
    project = tmp_path / "tiny-plugin"
    project.mkdir()
    (project / "tiny_cdp_plugin.py").write_text(module_source)
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
    '''))
    (project / "setup.cfg").write_text(textwrap.dedent('''
        [metadata]
        name = tiny-cdp-plugin
        version = 1.0

        [options]
        py_modules = tiny_cdp_plugin

        [options.entry_points]
        cdp_plugin =
            tiny = tiny_cdp_plugin
    '''))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(project)],
        check=True, capture_output=True,
    )
    assert list(target.glob("tiny_cdp_plugin-1.0.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    target = _build_and_install(tmp_path, PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(target))
    yield target
    sys.modules.pop("tiny_cdp_plugin", None)


def test_entry_point_plugin_is_loaded_and_called(installed_plugin: Path, config: Config) -> None:
    with Pipeline.from_config(config.with_overrides(load_entrypoints=True)) as pipeline:
        assert pipeline.pm.has_plugin("tiny")
        module = sys.modules["tiny_cdp_plugin"]
        assert module.CONFIGURED == ["w0"]
        dropped = pipeline.process(track("m-1", event="Internal Test Event", consent=ALL_GRANTED))
        assert dropped.status is Status.DROPPED
        assert dropped.reasons == ("tiny_plugin.internal",)
        assert pipeline.process(track("m-2", consent=ALL_GRANTED)).status is Status.FORWARDED


def test_entry_point_plugin_can_be_blocked_by_name(installed_plugin: Path,
                                                   config: Config) -> None:
    blocked = config.with_overrides(load_entrypoints=True, blocked_plugins=("tiny",))
    with Pipeline.from_config(blocked) as pipeline:
        assert not pipeline.pm.has_plugin("tiny")
        outcome = pipeline.process(track("m-1", event="Internal Test Event", consent=ALL_GRANTED))
        assert outcome.status is Status.FORWARDED


def test_broken_entry_point_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _build_and_install(tmp_path, "raise ImportError('missing dependency')\n")
    monkeypatch.syspath_prepend(str(target))
    with pytest.raises(PluginError) as caught:
        make_plugin_manager()
    assert caught.value.plugin == "tiny" and caught.value.hook == "load"
