"""The README's examples run as written."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, RULES_DIR

README = (REPO / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def _block(marker: str) -> str:
    [block] = [b for b in PYTHON_BLOCKS if marker in b]
    return block


def test_readme_opens_with_the_install_and_test_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    assert first_block is not None
    install, test = first_block.group(1).strip().splitlines()
    assert "pip install -e '.[test]'" in install and install.endswith("cdp-plugin demo")
    assert test == ".venv/bin/python -m pytest"
    ci = (REPO / ".ci" / "run").read_text()
    assert ".venv/bin/pip install --quiet -e '.[test]'" in ci
    assert ci.rstrip().endswith(".venv/bin/python -m pytest")


def test_host_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cdp_plugin.yaml").write_text(
        f"rules_dir: {RULES_DIR}\nload_entrypoints: false\n")
    sent: list[dict[str, Any]] = []
    namespace: dict[str, Any] = {"send_downstream": sent.append}
    exec(compile(_block("Pipeline.from_config"), "README.md", "exec"), namespace)
    assert len(sent) == 1 and sent[0]["properties"] == {"revenue": 42.5, "currency": "EUR"}
    assert sent[0]["userId"].startswith("h1:")
    assert list((tmp_path / "audits").glob("*/segment-*.jsonl"))


def test_plugin_example_drops_bots(make_pipeline: Any) -> None:
    module = types.ModuleType("bot_filter_plugin")
    exec(compile(_block("def cdp_decide"), "README.md", "exec"), module.__dict__)
    pipeline = make_pipeline(module)
    from tests.events import ALL_GRANTED, track

    bot = track("m-1", consent=ALL_GRANTED)
    bot["context"]["userAgent"] = "Googlebot/2.1"
    assert pipeline.process(bot).reasons == ("bot_traffic",)
    assert pipeline.process(track("m-2", consent=ALL_GRANTED)).forwarded


def test_readme_quotes_the_built_in_rules_notice() -> None:
    from cdp_plugin.rules.builtin import BUILTIN_NOTICE

    assert f"```text\n{BUILTIN_NOTICE}\n```" in README
