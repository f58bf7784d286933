"""Grading patches with the official swebench harness: a grade per (task, patch).

Each distinct (task, patch) is graded once, under a run id derived from the patch's hash: the harness caches
its report by run id, so a re-evaluation reuses reports exactly when the patch is the same. The harness's
logs go to RUN_DIR/logs/<run id>/codescale/<instance id>/.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from codescale.agent.records import Task
from codescale.eval.tasks.eval_script import harness_fields
from codescale.eval.tasks.extras import require
from codescale.scaling.records import Selection

MODEL_NAME = "codescale"
"""The `model_name_or_path` of every graded prediction (the harness puts it in the log path)."""
_harness_lock = threading.Lock()
DOCKER_TIMEOUT = 1800
"""Seconds one Docker API call of the harness may take (what the harness uses for its own client)."""


def require_harness(feature: str = "grading") -> None:
    """Raise MissingExtraError (one line naming the `swebench` extra) when the harness is not installed."""
    require("swebench", "swebench", feature)


class PatchGrade(BaseModel):
    resolved: bool = False
    failed_tests: list[str] = []
    """FAIL_TO_PASS and PASS_TO_PASS tests that did not pass."""
    error: str = ""
    """Why the patch could not be graded normally (empty, did not apply, timed out, ...)."""
    reward: float | None = None
    """Terminal-Bench tasks: the reward the task's tests wrote (resolved when it is 1); None for patches."""


class CandidateGrade(PatchGrade):
    rollout_id: str
    generation: int = 0


class TaskGrade(PatchGrade):
    """One line of eval.jsonl."""

    instance_id: str
    final_rollout: str | None = None
    candidates: list[CandidateGrade] = []
    """Every rollout's grade (with --all-candidates)."""
    passed: int | None = None
    """How many rollouts resolved the task (with --all-candidates)."""
    total: int | None = None
    judge_picks: list[bool] = []
    """Per mixed group the judge decided (with --all-candidates): whether its pick resolved the task."""


Graded = Callable[[str, PatchGrade], None]
"""Told of each outcome as soon as it is graded: (instance id, its grade), from any thread (a grading progress)."""


def run_id_for(patch: str) -> str:
    return "p" + hashlib.sha256(patch.encode()).hexdigest()[:16]


@contextmanager
def _harness_logs(directory: Path):
    """Point the harness's log directory at `directory`.

    Private territory, on purpose: run_instance(), the harness's public entry for one prediction, takes no log
    directory; it reads the module constant RUN_EVALUATION_LOG_DIR (relative to the working directory) at each
    call. Swapping that constant under a lock is the one way to keep its logs in the run directory without
    changing the process's working directory. Checked against swebench 5.x (pyproject bounds the major)."""
    from swebench.harness import run_evaluation

    with _harness_lock:
        saved = run_evaluation.RUN_EVALUATION_LOG_DIR
        run_evaluation.RUN_EVALUATION_LOG_DIR = directory.resolve()
        try:
            yield
        finally:
            run_evaluation.RUN_EVALUATION_LOG_DIR = saved


def grade_patch(task: Task, patch: str, log_dir: Path, client, timeout: int = 1800) -> PatchGrade:
    """Grade one patch with the harness (inside `_harness_logs(log_dir)`)."""
    from swebench.harness.constants import APPLY_PATCH_FAIL, FAIL_TO_PASS, PASS_TO_PASS
    from swebench.harness.run_evaluation import run_instance
    from swebench.harness.utils import make_test_spec

    if not patch.strip():
        return PatchGrade(failed_tests=task.FAIL_TO_PASS, error="empty patch")
    run_id = run_id_for(patch)
    spec = make_test_spec(harness_fields(task).model_dump())
    prediction = {"instance_id": task.instance_id, "model_name_or_path": MODEL_NAME, "model_patch": patch}
    result = run_instance(spec, prediction, client, run_id, timeout)
    if result is None:
        log = log_dir / run_id / MODEL_NAME / task.instance_id / "run_instance.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        error = ("patch did not apply" if APPLY_PATCH_FAIL in text
                 else "tests timed out" if "timed out" in text else f"evaluation error, see {log}")
        return PatchGrade(failed_tests=task.FAIL_TO_PASS, error=error)
    report = result[1][task.instance_id]
    status = report.get("tests_status", {})
    failed = [t for kind in (FAIL_TO_PASS, PASS_TO_PASS) for t in status.get(kind, {}).get("failure", [])]
    if not report.get("patch_successfully_applied"):
        return PatchGrade(failed_tests=failed or task.FAIL_TO_PASS, error="no test results in the log")
    return PatchGrade(resolved=bool(report["resolved"]), failed_tests=failed)


def grade_patches(items: list[tuple[Task, str]], log_dir: Path, workers: int = 2, timeout: int = 1800,
                  graded: Graded | None = None) -> list[PatchGrade]:
    """Grades of (task, patch) pairs, in order; each distinct pair is graded once, `workers` at a time. `graded` is told
    of every item as its pair's grade comes in."""
    import docker

    require_harness()
    client = docker.from_env(timeout=DOCKER_TIMEOUT, max_pool_size=max(10, 4 * workers))
    unique = {(task.instance_id, patch): task for task, patch in items}
    copies = {key: sum((task.instance_id, patch) == key for task, patch in items) for key in unique}
    done = {}
    with _harness_logs(log_dir), ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(grade_patch, task, key[1], log_dir, client, timeout): key for key, task in unique.items()}
        for future in as_completed(futures):
            key = futures[future]
            done[key] = future.result()
            if graded:
                for _ in range(copies[key]):
                    graded(key[0], done[key])
    return [done[(task.instance_id, patch)] for task, patch in items]


def mixed_matches(selections: list[Selection], resolved: dict[str, bool]) -> list[tuple[int, bool]]:
    """(round index, whether the judge's winner resolved the task) for each mixed group of these brackets: a match
    with at least one resolved and one unresolved candidate, by rollout id. Byes and matches with a candidate of
    unknown grade are left out. The one definition of judge accuracy."""
    found = []
    for selection in selections:
        for round_ in selection.rounds:
            for match in round_.matches:
                if match.bye or not match.winners or any(c not in resolved for c in match.candidates):
                    continue
                if {resolved[c] for c in match.candidates} == {True, False}:
                    found.append((round_.index, resolved.get(match.winners[0], False)))
    return found


def judge_picks(selections: list[Selection], resolved: dict[str, bool]) -> list[bool]:
    """For each mixed group of these brackets, whether the judge's winner resolved the task."""
    return [right for _, right in mixed_matches(selections, resolved)]
