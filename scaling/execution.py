"""Execution evidence for selection: each candidate patch run in a fresh sandbox, never the rollout's own.

A patch is cut into its code part (every file that is not a test or a reproduction script) and its tests
part. The code part is applied to the base commit; then the repository's existing tests near the changed
files run, and so do the reproductions every rollout of the task wrote (its tests part: new or changed test
files, `repro*` scripts), each candidate facing all of them. The base commit itself is run the same way, so
that "previously passing" and "a reproduction that fails before the change" are known.

The evidence sees only what the agent could see: the repository at the base commit and the rollouts' own
patches. `blind` strips the task of its hidden tests, test patch, gold patch and eval script before any
sandbox is opened. Results are cached by content: `<rollout_id>.evidence.json` in the task directory holds
one outcome table per check (a check is keyed by the digest of what it applies and runs), so a candidate
with the same code part, or a re-selection of a saved run, runs only the checks it has not run yet.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs
from codescale.agent.files import BASE_EVIDENCE
from codescale.agent.records import Task
from codescale.agent.templates import render

BASE = BASE_EVIDENCE
"""The rollout id of the base commit's evidence (`evidence.base.json`)."""


def _defaults() -> dict:
    return configs.load("scaling")["scaling"]["evidence"]


class SelectionConfig(BaseModel):
    """`scaling.selection`: execution evidence in selection (beyond the paper)."""

    model_config = ConfigDict(extra="forbid")

    evidence: Literal["none", "filter", "judge", "both"] = "none"
    """none; filter (drop candidates that break passing tests or fail every reproduction other rollouts wrote);
    judge (show the evidence to the judge); both. Any mode but none also groups candidates by behaviour."""
    sandbox: dict[str, Any] = {}
    """Settings of the evidence sandboxes (`kind` and that sandbox's keys); empty = the run's sandbox."""
    timeout: float = Field(300.0, gt=0)
    """Seconds per candidate for all its checks; checks not run by then count as failed."""
    concurrency: int = Field(2, ge=1)
    """Candidates run at once, each in its own sandbox."""
    commands: dict[str, str] = Field(default_factory=lambda: _defaults()["commands"])
    """Test command per runner (`task.test_runner`) and per script suffix (Jinja2; `files`, `modules`, `path`)."""
    judge_template: str = Field(default_factory=lambda: _defaults()["judge_template"])
    """Renders one candidate's evidence for the judge prompt."""


class Check(BaseModel):
    """One command run against a candidate: the existing tests, or one rollout's reproduction."""

    key: str
    """Digest of what it applies and runs: its cache key."""
    kind: Literal["existing", "reproduction"]
    author: str = ""
    """The rollout that wrote it (reproductions)."""
    apply: str = ""
    """A patch applied on top of the candidate before running (the author's tests part)."""
    command: str
    script: str = ""
    """The script's path when it is a script (passes by exit code 0), else ''."""


class Evidence(BaseModel):
    """What running one code part showed. One file per candidate: `<rollout_id>.evidence.json`."""

    rollout_id: str
    digest: str
    """Digest of the code part (the cache key of the candidate)."""
    applied: bool = True
    """False when the code part did not apply to the base commit."""
    error: str = ""
    """Why the sandbox could not give evidence (not a failing test: the sandbox itself)."""
    results: dict[str, dict[str, bool]] = {}
    """Check key -> test id -> passed."""
    timed_out: list[str] = []
    """Check keys cut short by the time box (their missing tests count as failed)."""
    seconds: float = 0.0
    """Sandbox time spent gathering this record (0 when all of it came from the cache)."""
    test_files: list[str] = []
    """(base only) Every test file at the base commit."""
    mentions: dict[str, list[str]] = {}
    """(base only) Changed module name -> test files that mention it."""


# --- what a patch holds ------------------------------------------------------------------------


def is_test_path(path: str) -> bool:
    """A test file, a test directory's file or a reproduction script (never part of a candidate's code)."""
    p = PurePosixPath(path)
    name = p.name.lower()
    dirs = {part.lower() for part in p.parts[:-1]}
    return bool(dirs & {"test", "tests", "testing"}) or name.startswith(("test_", "repro")) or \
        name.endswith(("_test.py", "_tests.py")) or name == "conftest.py"


def sections(patch: str) -> list[tuple[str, str]]:
    """(path, text) per file of a git patch, in order."""
    parts = re.split(r"(?m)^(?=diff --git )", patch)
    found = []
    for part in parts:
        match = re.match(r"diff --git a/(\S+) b/(\S+)", part)
        if match:
            found.append((match.group(2), part))
    return found


def split(patch: str) -> tuple[str, str]:
    """(code part, tests part) of a patch."""
    code, tests = [], []
    for path, text in sections(patch):
        (tests if is_test_path(path) else code).append(text)
    return "".join(code), "".join(tests)


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def blind(task: Task) -> Task:
    """The task as evidence may see it: where the repository is, nothing of its hidden tests or gold patch."""
    return Task(instance_id=task.instance_id, problem_statement="", repo=task.repo, base_commit=task.base_commit,
                image=task.image, workdir=task.workdir, repo_dir=task.repo_dir, test_runner=task.test_runner)


# --- which checks a task's candidates face -----------------------------------------------------


def changed_modules(code_parts: list[str]) -> list[str]:
    """Module names the code parts change (a package's name for its `__init__.py`)."""
    names = set()
    for part in code_parts:
        for path, _ in sections(part):
            p = PurePosixPath(path)
            if p.suffix == ".py":
                names.add(p.parent.name if p.stem == "__init__" else p.stem)
    return sorted(n for n in names if n)


def near_tests(base: Evidence, modules: list[str]) -> list[str]:
    """The existing test files near the changed modules: named after one or mentioning one; all when none is."""
    found = {f for m in modules for f in base.mentions.get(m, [])}
    found |= {f for f in base.test_files for m in modules if m in PurePosixPath(f).stem}
    return sorted(found) or list(base.test_files)


def _test_command(config: SelectionConfig, runner: str, files: list[str]) -> str:
    template = config.commands.get(runner) or config.commands["pytest"]
    modules = [f.removesuffix(".py").replace("/", ".") for f in files]
    return render(template, files=files, modules=modules, path="")


def plan_checks(config: SelectionConfig, runner: str, base: Evidence, code_parts: list[str],
                authors: dict[str, str]) -> list[Check]:
    """The existing-tests check, then each author's reproductions (its test files as one check, each script as one)."""
    checks = []
    files = near_tests(base, changed_modules(code_parts))
    if files:
        command = _test_command(config, runner, files)
        checks.append(Check(key=digest("existing", command), kind="existing", command=command))
    for author, patch in authors.items():
        _, tests = split(patch)
        if not tests:
            continue
        paths = [p for p, text in sections(tests) if "deleted file mode" not in text]
        runnable = [p for p in paths if PurePosixPath(p).name.startswith("test_") or p.endswith("_test.py")]
        runnable = [p for p in runnable if p.endswith(".py")]
        if runnable:
            command = _test_command(config, runner, runnable)
            checks.append(Check(key=digest("repro", tests, command), kind="reproduction", author=author,
                                apply=tests, command=command))
        for path in paths:
            suffix = PurePosixPath(path).suffix.lstrip(".")
            if path not in runnable and suffix in config.commands and PurePosixPath(path).name.lower().startswith("repro"):
                command = render(config.commands[suffix], files=[path], modules=[], path=path)
                checks.append(Check(key=digest("repro", tests, command), kind="reproduction", author=author,
                                    apply=tests, command=command, script=path))
    return checks


OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XPASS|XFAIL) (\S+)", re.MULTILINE)
UNITTEST = re.compile(r"^(\w+) \(([\w.]+)\)(?:\n.*?)?\s\.\.\. (ok|FAIL|ERROR|skipped|expected failure|unexpected success)",
                      re.MULTILINE)


def outcomes(output: str) -> dict[str, bool]:
    """Test id -> passed, from pytest's `-rA` summary lines or unittest's `-v` lines."""
    found = {tid: kind in ("PASSED", "XFAIL") for kind, tid in OUTCOME.findall(output)}
    for name, where, verdict in UNITTEST.findall(output):
        found[where if where.endswith(name) else f"{where}.{name}"] = verdict in ("ok", "expected failure")
    return found
