"""Meta-tests, as datasette has them: every hookspec is in the README's hook
table with its real arguments and kind, has a ``test_hook_<name>`` test, a
docstring and a CHANGELOG line."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from cdp_plugin import NAME, hookspecs

REPO = Path(__file__).resolve().parents[1]
SPEC_ATTR = f"{NAME}_spec"
SPECS = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, SPEC_ATTR)}
ROW = re.compile(r"^\| `(?P<name>cdp_\w+)\((?P<args>[^)]*)\)` \| (?P<kind>[^|]+) \| "
                 r"(?P<first>[^|]+) \|$")


def _readme_rows() -> dict[str, dict[str, str]]:
    rows = {}
    for line in (REPO / "README.md").read_text().splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[match["name"]] = {k: v.strip() for k, v in match.groupdict().items()}
    return rows


def _test_functions() -> set[str]:
    names = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                names.add(node.name)
    return names


README_ROWS = _readme_rows()
TESTS = _test_functions()


def test_specs_are_found() -> None:
    assert len(SPECS) >= 15


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_a_readme_row_matching_its_spec(name: str) -> None:
    assert name in README_ROWS, f"README's hook table has no row for {name}"
    row = README_ROWS[name]
    spec_args = list(inspect.signature(SPECS[name]).parameters)
    assert [a.strip() for a in row["args"].split(",") if a.strip()] == spec_args
    options = getattr(SPECS[name], SPEC_ATTR)
    assert ("historic" in row["kind"]) == bool(options.get("historic"))
    first = row["first"]
    if options.get("firstresult"):
        assert first == "yes", f"{name} is firstresult: the README must say the first wins"
    else:
        assert first != "yes", f"{name} is not firstresult"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_its_own_test(name: str) -> None:
    assert f"test_hook_{name}" in TESTS, f"write a test named test_hook_{name}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_is_documented_and_in_the_changelog(name: str) -> None:
    assert (inspect.getdoc(SPECS[name]) or "").strip(), f"{name} has no docstring"
    assert f"`{name}`" in (REPO / "CHANGELOG.md").read_text(), f"CHANGELOG.md omits {name}"


def test_readme_lists_no_hook_that_does_not_exist() -> None:
    assert set(README_ROWS) <= set(SPECS)
