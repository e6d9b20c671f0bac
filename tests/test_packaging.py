"""A built wheel, installed outside the source tree, runs from an empty directory.

The wheel is built from a copy of the sources and installed (not editable)
into a fresh virtual environment without system site-packages. Only the
dependencies come from the test environment, through a ``.pth`` line naming
its site-packages; ``.pth`` files inside it (such as an editable install's
import hook) are not processed, so ``cdp_plugin`` can only come from the wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from cdp_plugin.rules.builtin import BUILTIN_NOTICE
from cdp_plugin.rules.loader import OPTIONAL_FILES, RULE_FILES
from tests.conftest import REPO

pytestmark = pytest.mark.slow

RULE_NAMES = (*RULE_FILES, *OPTIONAL_FILES)
SOURCES = ("cdp_plugin", "rules", "setup.cfg", "setup.py", "pyproject.toml", "README.md")


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "src"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--wheel-dir", str(dist),
                    str(source)], check=True, capture_output=True, text=True)
    [wheel] = dist.glob("cdp_plugin-*.whl")
    return wheel


def _install(wheel: Path, tmp: Path) -> Path:
    environment = tmp / "venv"
    venv.create(environment, with_pip=False, system_site_packages=False)
    python = environment / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, text=True)
    return environment


def _run(environment: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "CDP_PLUGIN_", "VIRTUAL_ENV"))}
    env["PYTHONNOUSERSITE"] = "1"
    return subprocess.run([str(environment / "bin" / "cdp-plugin"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _empty(tmp: Path, name: str) -> Path:
    directory = tmp / name
    directory.mkdir()
    return directory


def _loaded_hashes(audits: Path) -> dict[str, str]:
    records = [json.loads(line) for segment in sorted(audits.glob("*/segment-*.jsonl"))
               for line in segment.read_text().splitlines()]
    [loaded] = [record for record in records if record["kind"] == "rules.loaded"]
    files: dict[str, str] = loaded["files"]
    return files


def test_an_installed_wheel_runs_from_an_empty_directory(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"cdp_plugin/default_rules/{name}" for name in RULE_NAMES} <= names
    assert not [name for name in names if name.startswith("rules/")]
    modules = {str(path.relative_to(REPO)) for path in (REPO / "cdp_plugin").rglob("*.py")}
    assert modules <= names, "modules missing from the wheel"

    environment = _install(wheel, tmp_path)
    script = (environment / "bin" / "cdp-plugin").read_text().splitlines()[0]
    assert script == f"#!{environment / 'bin' / 'python'}"
    probe = subprocess.run(
        [environment / "bin" / "python", "-c",
         "import json, sys, cdp_plugin; print(json.dumps([cdp_plugin.__file__, sys.path]))"],
        cwd=_empty(tmp_path, "probe"), capture_output=True, text=True, check=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"})
    module_file, path = json.loads(probe.stdout)
    assert Path(module_file).is_relative_to(environment)
    assert not [entry for entry in path if entry and Path(entry).resolve() == REPO]
    shipped = {name: hashlib.sha256((REPO / "rules" / name).read_bytes()).hexdigest()
               for name in RULE_NAMES}

    demo_dir = _empty(tmp_path, "demo")
    demo = _run(environment, demo_dir, "demo", "--subjects", "40", "--days", "3", "--json")
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr.splitlines().count(BUILTIN_NOTICE) == 1
    assert json.loads(demo.stdout)["forwarded"] > 0
    assert _loaded_hashes(demo_dir / "audits") == shipped

    run_dir = _empty(tmp_path, "run")
    shutil.copy(demo_dir / ".cdp_plugin" / "demo" / "events.jsonl", run_dir / "some.jsonl")
    run = _run(environment, run_dir, "run", "some.jsonl", "--out", "out.jsonl")
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines().count(BUILTIN_NOTICE) == 1
    assert (run_dir / "out.jsonl").read_text().count("\n") > 0
    assert _loaded_hashes(run_dir / "audits") == shipped

    init_dir = _empty(tmp_path, "init")
    init = _run(environment, init_dir, "init")
    assert init.returncode == 0, init.stderr
    assert {path.name for path in (init_dir / "rules").iterdir()} == set(RULE_NAMES)
    check = _run(environment, init_dir, "rules", "check", "rules")
    assert check.returncode == 0, check.stderr
    assert "rules: OK" in check.stdout and BUILTIN_NOTICE not in check.stderr
    before = {path: path.read_bytes() for path in init_dir.rglob("*") if path.is_file()}
    again = _run(environment, init_dir, "init")
    assert again.returncode == 2
    assert "purposes.yaml already exists" in again.stderr
    assert {path: path.read_bytes() for path in init_dir.rglob("*") if path.is_file()} == before
