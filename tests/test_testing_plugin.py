"""The fixtures shipped for plugin authors (:mod:`cdp_plugin.testing`, entry point ``pytest11``).

Each test writes a small third-party project (a plugin and its tests) with
``pytester`` and runs pytest on it, so the fixtures are exercised as an author
would use them: loaded by the entry point, with no conftest of ours.
"""

from __future__ import annotations

import configparser
import re
import shutil
from importlib.metadata import entry_points

import pytest

# In-process runs drop the modules they imported when they end; importing the pipeline
# (and so cryptography's bindings) here keeps one copy of them for every run.
import cdp_plugin.pipeline  # noqa: F401
from tests.conftest import REPO, RULES_DIR

pytest_plugins = ["pytester"]

BOT_FILTER = '''
"""A third-party plugin: drops the pings of a monitoring bot."""

from cdp_plugin import hookimpl
from cdp_plugin.types import Decision


@hookimpl
def cdp_decide(event):
    if event.name == "Bot Ping":
        return Decision.drop("bot_filter.bot")
    return None
'''

AUTHOR_TESTS = '''
import bot_filter
from cdp_plugin.types import Status

BUILT = []


def ping(message_id, name="Bot Ping"):
    return {"type": "track", "event": name, "messageId": message_id, "userId": "u-1",
            "timestamp": "2026-11-20T10:00:00Z",
            "context": {"consent": {"categoryPreferences": {"Analytics": True}}}}


def test_the_config_lives_in_tmp_path(cdp_config, cdp_rules_dir, tmp_path):
    assert cdp_config.data_dir == tmp_path / "data"
    assert cdp_config.audit_dir == tmp_path / "audits"
    assert cdp_config.rules_dir == cdp_rules_dir and (cdp_rules_dir / "purposes.yaml").is_file()
    assert not cdp_config.audit_fsync and not cdp_config.load_entrypoints


def test_pings_are_dropped_and_audited(cdp_pipeline_factory, cdp_audit_records):
    pipeline = cdp_pipeline_factory(bot_filter)
    BUILT.append(pipeline)
    assert pipeline.pm.has_plugin("bot_filter")
    outcome = pipeline.process(ping("m-1"))
    assert outcome.status is Status.DROPPED and outcome.reasons == ("bot_filter.bot",)
    decisions = cdp_audit_records(pipeline, "event.decision")
    key = pipeline.runtime.pseudonymizer.message("m-1")  # the log never holds the raw id
    assert [(d["message_id"], d["action"], d["reasons"]) for d in decisions] == [
        (key, "drop", ["bot_filter.bot"])]
    assert cdp_audit_records(pipeline)[0]["kind"] == "rules.loaded"


def test_the_factory_closed_the_pipeline_at_teardown():
    assert [pipeline.runtime.audit_log.closed for pipeline in BUILT] == [True]


def test_a_blocked_plugin_is_not_loaded(cdp_pipeline_factory):
    pipeline = cdp_pipeline_factory(bot_filter, blocked=["bot_filter"])
    assert not pipeline.pm.has_plugin("bot_filter")
    assert "bot_filter.bot" not in pipeline.process(ping("m-1")).reasons


def test_overrides_and_records_of_a_closed_pipeline(cdp_pipeline_factory, cdp_audit_records):
    with cdp_pipeline_factory(bot_filter, worker_id="w7") as pipeline:
        pipeline.process(ping("m-1"))
        pipeline.process(ping("m-2", name="Order Completed"))
    assert pipeline.runtime.config.worker_id == "w7"
    kinds = [record["kind"] for record in cdp_audit_records(pipeline)]
    assert kinds[0] == "rules.loaded" and kinds.count("event.decision") == 2
'''


def test_setup_cfg_declares_the_pytest11_entry_point() -> None:
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg", encoding="utf-8")
    declared = setup["options.entry_points"]["pytest11"].split()
    assert declared == ["cdp_plugin", "=", "cdp_plugin.testing"]


def test_the_installed_distribution_carries_the_entry_point() -> None:
    found = entry_points(group="pytest11", name="cdp_plugin")
    assert [point.value for point in found] == ["cdp_plugin.testing"]


def test_a_third_party_plugin_is_tested_with_the_shipped_fixtures(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(bot_filter=BOT_FILTER, test_bot_filter=AUTHOR_TESTS)
    # A developer's own key must not leak into the fixtures' pipelines: this one is unusable.
    monkeypatch.setenv("CDP_PLUGIN_MASTER_KEY", "not a key")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_the_rules_directory_comes_from_the_ini_option(pytester: pytest.Pytester) -> None:
    shutil.copytree(RULES_DIR, pytester.path / "my_rules")
    pytester.makeini("[pytest]\ncdp_rules_dir = my_rules\n")
    pytester.makepyfile(test_rules='''
        def test_rules(cdp_rules_dir, cdp_pipeline_factory, pytestconfig):
            assert cdp_rules_dir == pytestconfig.rootpath / "my_rules"
            assert cdp_pipeline_factory().runtime.config.rules_dir == cdp_rules_dir
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_missing_rules_directory_fails_saying_how_to_set_one(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ncdp_rules_dir = nowhere\n")
    pytester.makepyfile(test_rules="def test_rules(cdp_config):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cdp_rules_dir: *nowhere is not a directory; set the "
                                 "'cdp_rules_dir' ini option or override the fixture*"])


def test_loading_the_plugin_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_start='''
        import sys

        def test_nothing_heavy_was_imported(request):
            assert request.config.pluginmanager.has_plugin("cdp_plugin")
            ours = {name for name in sys.modules if name.split(".")[0] == "cdp_plugin"}
            assert ours == {"cdp_plugin", "cdp_plugin.markers", "cdp_plugin.testing"}
            heavy = {"cryptography", "marshmallow", "psycopg", "yaml", "waitress"}
            assert not heavy & {name.split(".")[0] for name in sys.modules}
    ''')
    # A fresh interpreter: this session has long imported the whole package.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"),
                        flags=re.DOTALL)
    [plugin] = [block for block in blocks if "def cdp_decide" in block]
    [example] = [block for block in blocks if "cdp_pipeline_factory" in block]
    package = pytester.mkpydir("bot_filter")
    (package / "plugin.py").write_text(plugin, encoding="utf-8")
    pytester.makepyfile(test_bot_filter=example)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
