"""The bundled tasks without Docker: each task's repo as a local git repository (for the local sandbox),
and grading by running its tests in a fresh clone. NOT isolated: the tests run on this machine."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from codescale.agent.records import Task
from codescale.eval.tasks.bundled import COMMIT_MESSAGE, GIT_IDENTITY, SUITE_DIR, read_suite_task, repo_files
from codescale.eval.tasks.grading import PatchGrade


def _git(repo: Path, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True,
                          env={**os.environ, **GIT_IDENTITY}, timeout=120)


def local_repo(task: Task, root: Path) -> Task:
    """`task` with `repo_dir` set to a git repository of its bundled files under `root`, committed so that
    its sha is the task's base commit."""
    task_dir = SUITE_DIR / task.instance_id
    repo = root / task.instance_id
    if not (repo / ".git").is_dir():
        for name, data in repo_files(task_dir).items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(data)
        for step in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", COMMIT_MESSAGE]):
            _git(repo, *step).check_returncode()
        for command in read_suite_task(task_dir).setup:
            subprocess.run(["bash", "-c", command], cwd=repo, check=True, capture_output=True, timeout=600)
    head = _git(repo, "rev-parse", "HEAD").stdout.decode().strip()
    if head != task.base_commit:
        raise RuntimeError(f"{task.instance_id}: local repo at {head}, expected base commit {task.base_commit}")
    return task.model_copy(update={"repo_dir": str(repo)})


def test_command(task: Task) -> str:
    """The command that runs the task's FAIL_TO_PASS and PASS_TO_PASS tests in the repo root."""
    tests = task.FAIL_TO_PASS + task.PASS_TO_PASS
    if task.test_runner == "unittest":  # ids as unittest prints them: `name (module.Class.name)`
        dotted = [t[t.index("(") + 1:-1] if t.endswith(")") and "(" in t else t for t in tests]
        return "python3 -m unittest " + " ".join(shlex.quote(t) for t in dotted)
    return "python3 -m pytest -q -p no:cacheprovider " + " ".join(shlex.quote(t) for t in tests)


def grade_locally(task: Task, patch: str, timeout: float = 300.0) -> PatchGrade:
    """Resolved when the patch and the test patch apply to a clone at the base commit and every listed test
    passes (by the runner's exit code; which tests failed is not told apart)."""
    if not patch.strip():
        return PatchGrade(failed_tests=task.FAIL_TO_PASS, error="empty patch")
    with tempfile.TemporaryDirectory(prefix="codescale-grade-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", task.repo_dir, str(clone)], check=True, capture_output=True)
        _git(clone, "checkout", "-q", task.base_commit).check_returncode()
        for name, text in (("patch", patch), ("test patch", task.test_patch)):
            if _git(clone, "apply", "--whitespace=nowarn", "-", data=text.encode()).returncode:
                return PatchGrade(failed_tests=task.FAIL_TO_PASS, error=f"{name} did not apply")
        try:
            run = subprocess.run(["bash", "-c", test_command(task)], cwd=clone, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return PatchGrade(failed_tests=task.FAIL_TO_PASS, error="tests timed out")
    if run.returncode:
        return PatchGrade(error=f"the tests failed (exit code {run.returncode}; which ones is not told apart)")
    return PatchGrade(resolved=True)
