"""The swebench 5.x harness fields for a task that has only the classic ones: eval script, log parser (the harness's
own for the task's repository), eval type.

The script follows SWE-bench's: reset the files the test patch touches, apply the test patch, run the
FAIL_TO_PASS and PASS_TO_PASS tests between the harness's start and end markers, reset again.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

from codescale.agent.diff import file_changes
from codescale.agent.records import Task

RUNNERS = {"pytest": "parse_log_pytest", "unittest": "parse_log_django"}
"""Test runner -> the swebench log parser that reads its output (Django's parser reads `unittest -v`)."""
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"
_HEREDOC = "EOF_CODESCALE_TEST_PATCH"


def patch_files(patch: str) -> tuple[list[str], list[str]]:
    """(files the patch changes or deletes, files it creates), by their path in the repo."""
    files = file_changes(patch)
    return [f.source for f in files if not f.created], [f.path for f in files if f.created]


def test_targets(task: Task, runner: str) -> list[str]:
    """What the runner is told to run: the test files (pytest) or modules (unittest) of the tests named."""
    changed, created = patch_files(task.test_patch)
    files = [f for f in changed + created if f.endswith(".py")]
    if runner == "pytest":
        files += [test.split("::")[0] for test in task.FAIL_TO_PASS + task.PASS_TO_PASS]
        return list(dict.fromkeys(files))
    modules = [f.removesuffix(".py").replace("/", ".") for f in files]
    for test in task.FAIL_TO_PASS + task.PASS_TO_PASS:
        # `test_x (pkg.module.Class.test_x)` as printed by `python -m unittest -v` (Python >= 3.11)
        found = re.search(r"\(([\w.]+)\)", test)
        if found:
            modules.append(found.group(1).rsplit(".", 2)[0])
    return list(dict.fromkeys(modules))


def test_command(task: Task, runner: str) -> str:
    targets = " ".join(test_targets(task, runner))
    if runner == "pytest":
        return f"python3 -m pytest -rA --tb=short -p no:cacheprovider {targets}"
    return f"python3 -m unittest -v {targets}"


def make_eval_script(task: Task, runner: str = "pytest") -> str:
    """The bash script the harness runs in the task image after applying the candidate patch."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown test runner {runner!r}; known: {', '.join(RUNNERS)}")
    changed, created = patch_files(task.test_patch)
    reset = []
    if changed:
        reset.append(f"git checkout {task.base_commit or 'HEAD'} -- {' '.join(changed)}")
    if created:
        reset.append(f"rm -f {' '.join(created)}")
    lines = [
        "#!/bin/bash",
        "set -uxo pipefail",
        f"cd {task.workdir}",
        "export PYTHONDONTWRITEBYTECODE=1",
        *reset,
        f"git apply -v - <<'{_HEREDOC}'\n{task.test_patch.rstrip(chr(10))}\n{_HEREDOC}",
        f"echo '{START}'",
        test_command(task, runner),
        f"echo '{END}'",
        *reset,
    ]
    return "\n".join(lines) + "\n"


@cache
def harness_parsers() -> dict[str, str] | None:
    """The swebench harness's own log parser per repository (`owner/name` -> its registry name), from the maps it keeps
    for each language (`MAP_REPO_TO_PARSER_*`); None when the harness is not installed."""
    try:
        from swebench.harness import log_parsers
    except ImportError:
        return None
    registry = log_parsers.PARSER_REGISTRY
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(log_parsers.__path__):
        module = importlib.import_module(f"{log_parsers.__name__}.{info.name}")
        for name in dir(module):
            if name.startswith("MAP_REPO_TO_PARSER"):
                for repo, parser in getattr(module, name).items():
                    names = [key for key, value in registry.items() if value is parser]
                    if names:
                        found[repo] = parser.__name__ if parser.__name__ in names else names[0]
    return found


def log_parser(task: Task) -> str | None:
    """The task's log parser: its own, else the harness's for its repository (as the harness grades a record of the
    classic format), else the one that reads its test runner's output; None without the harness (grading, which
    needs it, decides then)."""
    if task.log_parser:
        return task.log_parser
    parsers = harness_parsers()
    if parsers is None:
        return None
    return parsers.get(task.repo) or RUNNERS.get(task.test_runner, "parse_log_pytest")


def harness_fields(task: Task) -> Task:
    """`task` with eval_script, log_parser and eval_type filled where missing (a copy; the input is unchanged)."""
    if task.eval_script and task.log_parser and task.eval_type:
        return task
    return task.model_copy(update={
        "eval_script": task.eval_script or make_eval_script(task, task.test_runner),
        "log_parser": log_parser(task),
        "eval_type": task.eval_type or "pass_and_fail",
    })
