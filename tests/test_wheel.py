"""The built wheel installs one import name, `codescale`, and the command works from it alone."""

from __future__ import annotations

import csv
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, text=True, timeout=600)
    [built] = out.glob("codescale-*.whl")
    return built


def test_wheel_holds_nothing_but_codescale(wheel):
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        paths = [row[0] for row in csv.reader(archive.read(record).decode().splitlines())]
    outside = [p for p in paths if not p.startswith("codescale/") and ".dist-info/" not in p]
    assert outside == []
    assert "codescale/eval/cli/main.py" in paths and "codescale/configs/default.yaml" in paths
    assert any(p.startswith("codescale/eval/tasks/suite/codescale__thermo-1/repo/") for p in paths)
    assert "codescale/eval/tasks/terminal_suite/make-build/environment/Dockerfile" in paths
    assert "codescale/eval/tasks/terminal_suite/make-build/solution/solve.sh" in paths
    assert "codescale/configs/terminal.yaml" in paths
    assert {f"codescale/configs/viewer/{name}" for name in ("index.html", "dom.js", "bracket.js", "viewer.js", "viewer.css")} <= set(paths)


def test_the_installed_wheel_runs_without_the_source_tree(wheel, tmp_path):
    """Installed into a folder of its own and run with no site hooks (so no editable install can answer):
    `codescale --help` works, and the old top-level names are gone."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    path = f"{target}:{sysconfig.get_paths()['purelib']}"  # the wheel, then its dependencies

    def python(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-S", *args], cwd=tmp_path, env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=120)

    shown = python("-m", "codescale.eval.cli", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "fix-issue" in shown.stdout and "evaluate" in shown.stdout
    where = python("-c", "import codescale.eval.cli.main as m; print(m.__file__)")
    assert where.stdout.strip().startswith(str(target)), where.stderr
    for old in ("eval.cli", "agent", "scaling", "sandboxes", "configs"):
        gone = python("-c", f"import {old}")
        assert gone.returncode != 0 and "ModuleNotFoundError" in gone.stderr, old
