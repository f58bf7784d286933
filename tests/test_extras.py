"""The install: every third-party module the code imports is declared in pyproject.toml, heavy ones only in an
extra, and a missing extra is one line naming it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from codescale.eval.tasks.extras import MissingExtraError, require

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["agent", "sandboxes", "scaling", "eval", "configs"]
SUITE = REPO / "eval" / "tasks" / "suite"  # the bundled tasks' own repositories: not our code


def imported_modules() -> dict[str, str]:
    """Top-level third-party module -> a file importing it, over the package's source."""
    found = {}
    for folder in PACKAGES:
        for path in (REPO / folder).rglob("*.py"):
            if SUITE in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top != "codescale":
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}

    return names(project["dependencies"]), {k: names(v) for k, v in project["optional-dependencies"].items()}


def test_every_imported_module_is_declared():
    base, extras = declared()
    everything = base.union(*extras.values())
    distributions = packages_distributions()
    undeclared = {}
    for module, where in imported_modules().items():
        dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not dists & everything:
            undeclared[module] = where
    assert undeclared == {}


def test_heavy_harness_packages_are_extras_only():
    base, extras = declared()
    assert not base & {"swebench", "datasets", "pyarrow", "llama-cpp-python", "matplotlib"}
    assert "swebench" in extras["swebench"] and {"datasets", "pyarrow"} <= extras["datasets"]
    assert "codescale" in extras["test"]  # the README's ".[local,test]" brings every extra but vllm


def test_a_missing_extra_is_one_line_naming_it():
    with pytest.raises(MissingExtraError) as e:
        require("codescale_no_such_module", "swebench", "codescale evaluate")
    assert str(e.value) == (
        "codescale evaluate needs the `swebench` extra (the official SWE-bench grading harness), which is not "
        'installed: pip install "codescale[swebench]" (in a clone: pip install -e ".[swebench]")')
