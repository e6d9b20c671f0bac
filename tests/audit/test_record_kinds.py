"""Meta-test: every audit record kind is typed, documented and reported, and the code
writes no kind the registry does not know.

Adding a kind means a record class in ``cdp_plugin.audit.records`` (in
``RECORD_TYPES``), a handler in the report's ``HANDLERS``, and a row in
``audits/README.md``; these tests name whichever is missing.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from cdp_plugin.audit.records import REGISTRY, record_from_mapping
from cdp_plugin.audit.reporting.records import HANDLERS
from cdp_plugin.config import Config
from tests.audit.every_kind import write_every_kind
from tests.conftest import REPO, MakePipeline

PACKAGE = REPO / "cdp_plugin"
README_ROW = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \|", re.M)


def test_every_record_kind_has_a_report_handler() -> None:
    assert sorted(set(REGISTRY) - set(HANDLERS)) == []
    assert sorted(set(HANDLERS) - set(REGISTRY)) == []  # a handler for a kind never written


def test_every_record_kind_has_a_line_in_the_audit_log_readme() -> None:
    documented = README_ROW.findall((REPO / "audits" / "README.md").read_text("utf-8"))
    assert sorted(set(REGISTRY) - set(documented)) == []
    assert sorted(set(documented) - set(REGISTRY)) == []
    assert len(documented) == len(set(documented)), "a kind has two rows"


def _writes_audit(call: ast.Call, where: str) -> bool:
    """A hook runner's ``audit(...)``, an audit log's ``append(...)``, or the log's own."""
    if not isinstance(call.func, ast.Attribute):
        return False
    if call.func.attr == "audit":
        return True
    receiver = ast.unparse(call.func.value)
    own = receiver == "self" and where.endswith("audit/log.py")
    return call.func.attr == "append" and (receiver.endswith("audit_log") or own)


def _written_kind_literals(tree: ast.AST, where: str) -> list[str]:
    """The kinds of the dict literals the code hands to the audit log."""
    kinds = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and _writes_audit(call, where)):
            continue
        for argument in call.args:
            if not isinstance(argument, ast.Dict):
                continue
            for key, value in zip(argument.keys, argument.values, strict=True):
                if not (isinstance(key, ast.Constant) and key.value == "kind"):
                    continue
                options = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
                for option in options:
                    if isinstance(option, ast.Constant) and isinstance(option.value, str):
                        kinds.append(option.value)
                    elif isinstance(option, ast.Name) and option.id == "REPAIR_KIND":
                        kinds.append("audit.repair")
                    else:
                        pytest.fail(f"{where}:{argument.lineno}: an audit record whose kind "
                                    "is computed; build its typed record instead")
    return kinds


def test_every_kind_the_code_writes_as_a_dict_is_registered() -> None:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(REPO))
        for kind in _written_kind_literals(ast.parse(path.read_text("utf-8")), where):
            found.setdefault(kind, []).append(where)
    unknown = {kind: files for kind, files in found.items() if kind not in REGISTRY}
    assert unknown == {}
    assert "audit.repair" in found  # the scan does see the literals that remain


def test_a_computed_kind_is_caught() -> None:
    tree = ast.parse('hooks.audit({"kind": kind, "subject": s})')
    with pytest.raises(pytest.fail.Exception, match="computed"):
        _written_kind_literals(tree, "example.py")
    assert _written_kind_literals(ast.parse(
        'runtime.audit_log.append({"kind": "a.b" if x else "c.d"})'), "x.py") == ["a.b", "c.d"]
    assert _written_kind_literals(ast.parse('rows.append({"kind": kind})'), "x.py") == []


def test_running_the_plugin_writes_exactly_the_registered_kinds(
        make_pipeline: MakePipeline, config: Config) -> None:
    records = write_every_kind(make_pipeline, config)
    assert {record["kind"] for record in records} == set(REGISTRY)
    for record in records:
        written: dict[str, Any] = {k: v for k, v in record.items() if k not in ("seq", "ts")}
        typed = record_from_mapping(written)
        assert typed.as_dict() == written
        if record["kind"] != "audit.repair":  # read from disk, where keys are sorted
            assert list(typed.as_dict()) == list(written)

