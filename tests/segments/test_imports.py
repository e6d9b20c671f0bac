"""The segmentation engine stands alone: importing it never loads the demo generator
(:mod:`cdp_plugin.synthetic`), and no module of it imports that package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cdp_plugin.segments

SEGMENTS_DIR = Path(cdp_plugin.segments.__file__).parent


def test_importing_the_segments_package_loads_no_synthetic_module() -> None:
    probe = ("import sys; import cdp_plugin.segments; "
             "print(sorted(m for m in sys.modules if m.startswith('cdp_plugin.')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)
    loaded = set(ast.literal_eval(done.stdout.strip()))
    assert "cdp_plugin.segments.realtime" in loaded  # the probe saw the package load
    synthetic = {m for m in loaded if m == "cdp_plugin.synthetic"
                 or m.startswith("cdp_plugin.synthetic.")}
    assert not synthetic


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_segments_module_imports_the_synthetic_package() -> None:
    modules = sorted(SEGMENTS_DIR.rglob("*.py"))
    assert len(modules) > 5
    offenders = {
        str(path.relative_to(SEGMENTS_DIR)): sorted(
            name for name in _imported_modules(path)
            if name == "cdp_plugin.synthetic" or name.startswith("cdp_plugin.synthetic."))
        for path in modules}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_import_scan_sees_an_import_of_the_synthetic_package(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from cdp_plugin import synthetic\n"
                      "from cdp_plugin.synthetic.data import DEFAULT_START\n", encoding="utf-8")
    assert {"cdp_plugin.synthetic", "cdp_plugin.synthetic.data"} <= _imported_modules(module)
