"""Meta-tests: every hook is prefixed, documented as a contract, and exercised by a test."""

from __future__ import annotations

import inspect

import pytest

from cdp_plugin import NAME, hookspecs
from cdp_plugin.manager import DEFAULT_PLUGINS, make_plugin_manager

SPECS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
               if hasattr(fn, f"{NAME}_spec"))


def test_there_are_hooks_and_all_are_prefixed() -> None:
    assert len(SPECS) >= 12
    assert all(name.startswith("cdp_") for name in SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_hook_is_documented_as_a_contract(name: str) -> None:
    doc = " ".join((inspect.getdoc(getattr(hookspecs, name)) or "").split())
    assert "called" in doc.lower(), f"{name}: say when it is called"
    spec_opts = getattr(getattr(hookspecs, name), f"{NAME}_spec")
    if spec_opts.get("firstresult"):
        assert "first non-``None`` result wins" in doc, f"{name}: say the first result wins"
        assert "``None``" in doc
    else:
        assert "observer" in doc.lower() or "every implementation" in doc.lower() \
            or "historic" in doc.lower(), f"{name}: say how results combine"


def test_builtins_are_plugins_and_can_be_blocked() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    assert [n for n in DEFAULT_PLUGINS if pm.has_plugin(n)] == list(DEFAULT_PLUGINS)
    blocked = make_plugin_manager(blocked=["cdp_plugin.stages.segmentation"],
                                  load_entrypoints=False)
    assert not blocked.has_plugin("cdp_plugin.stages.segmentation")
    assert not blocked.hook.cdp_update_segments.get_hookimpls()


def test_observer_hooks_are_those_documented_as_observers() -> None:
    documented = {name for name in SPECS
                  if (inspect.getdoc(getattr(hookspecs, name)) or "").startswith("Observer")}
    assert documented == hookspecs.OBSERVER_HOOKS
