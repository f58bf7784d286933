"""`codescale evaluate RUN_DIR`: grade a run's patches with the official swebench harness, write eval.jsonl.

Each distinct (task, patch) is graded once, under a run id derived from the patch's hash: the harness caches
its report by run id, so a re-evaluation reuses reports exactly when the patch is the same. The harness's
logs go to RUN_DIR/logs/<run id>/codescale/<instance id>/.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import typer
from pydantic import BaseModel

from agent.records import Task, Trajectory, write_atomic
from eval import metrics as metrics_module
from eval.eval_script import harness_fields
from eval.images import ensure_images
from eval.rundir import RunDir
from eval.task_error import TaskError
from eval.tasks import check_gradable, load_tasks
from scaling.records import Selection, TaskResult

MODEL_NAME = "codescale"
"""The `model_name_or_path` of every graded prediction (the harness puts it in the log path)."""
_harness_lock = threading.Lock()


class PatchGrade(BaseModel):
    resolved: bool = False
    failed_tests: list[str] = []
    """FAIL_TO_PASS and PASS_TO_PASS tests that did not pass."""
    error: str = ""
    """Why the patch could not be graded normally (empty, did not apply, timed out, ...)."""


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


def run_id_for(patch: str) -> str:
    return "p" + hashlib.sha256(patch.encode()).hexdigest()[:16]


@contextmanager
def _harness_logs(directory: Path):
    """Point the harness's log directory (a module constant, relative to the working directory) at `directory`."""
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


def grade_patches(items: list[tuple[Task, str]], log_dir: Path, workers: int = 2, timeout: int = 1800) -> list[PatchGrade]:
    """Grades of (task, patch) pairs, in order; each distinct pair is graded once, `workers` at a time."""
    from swebench.harness.run_evaluation import _docker_client

    client = _docker_client()
    unique = {(task.instance_id, patch): task for task, patch in items}
    with _harness_logs(log_dir), ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {key: pool.submit(grade_patch, task, key[1], log_dir, client, timeout) for key, task in unique.items()}
        done = {key: future.result() for key, future in futures.items()}
    return [done[(task.instance_id, patch)] for task, patch in items]


def _run_tasks(run: RunDir, ids: list[str], source: str | None) -> dict[str, Task]:
    found: dict[str, Task] = {}
    for instance_id in ids:
        path = run.path / "tasks" / instance_id / "task.json"
        if path.exists():
            found[instance_id] = Task.model_validate_json(path.read_text())
    missing = [i for i in ids if i not in found]
    if missing:
        known = {task.instance_id: task for task in load_tasks(source)}
        for instance_id in missing:
            if instance_id not in known:
                raise TaskError(instance_id, "instance_id", f"no tasks/{instance_id}/task.json in the run and not in "
                                f"{source or 'the bundled suite'} (pass --tasks)")
            found[instance_id] = known[instance_id]
    return found


def _candidates(run: RunDir, result: TaskResult) -> list[tuple[str, int, str, str]]:
    """(rollout id, generation, patch, error) of every rollout of a task."""
    rows = []
    for generation, rollout_ids in enumerate(result.rollouts):
        for rollout_id in rollout_ids:
            path = run.path / "tasks" / result.instance_id / f"{rollout_id}.traj.json"
            if path.exists():
                rows.append((rollout_id, generation, Trajectory.load(path).patch, ""))
            else:
                rows.append((rollout_id, generation, "", f"trajectory {path.name} is missing"))
    return rows


def selections(run: RunDir, instance_id: str) -> list[Selection]:
    """Every bracket recorded for a task: the answer's (selection.json) and PDR's contexts (selection.<stage>.json)."""
    task_dir = run.path / "tasks" / instance_id
    return [Selection.model_validate_json(p.read_text()) for p in sorted(task_dir.glob("selection*.json"))]


def evaluate(run_dir: Path, all_candidates: bool = False, workers: int = 2, tasks: str | None = None,
             timeout: int = 1800) -> list[TaskGrade]:
    """Grade the final patch of every task in `run_dir` (and every rollout's, with `all_candidates`);
    write `eval.jsonl` and return the grades."""
    run = RunDir(Path(run_dir))
    results = {r.instance_id: r for r in run.results()}  # a re-run task's last line wins
    task_by_id = _run_tasks(run, list(results), tasks)
    for task in task_by_id.values():
        check_gradable(task)
    ensure_images(list(task_by_id.values()), workers)

    items: list[tuple[Task, str]] = []
    candidates: dict[str, list[tuple[str, int, str, str]]] = {}
    for instance_id, result in results.items():
        items.append((task_by_id[instance_id], result.final_patch))
        if all_candidates:
            candidates[instance_id] = _candidates(run, result)
            items += [(task_by_id[instance_id], patch) for _, _, patch, _ in candidates[instance_id]]
    grades = iter(grade_patches(items, run.path / "logs", workers, timeout))

    graded = []
    for instance_id, result in results.items():
        final = next(grades)
        row = TaskGrade(instance_id=instance_id, final_rollout=result.final_rollout, **final.model_dump())
        if result.status == "error" and not row.error:
            row.error = f"run error: {result.error}"
        if all_candidates:
            for rollout_id, generation, _, error in candidates[instance_id]:
                grade = next(grades).model_dump()
                grade["error"] = error or grade["error"]
                row.candidates.append(CandidateGrade(rollout_id=rollout_id, generation=generation, **grade))
            row.passed, row.total = sum(c.resolved for c in row.candidates), len(row.candidates)
            resolved = {c.rollout_id: c.resolved for c in row.candidates if not c.error.startswith("trajectory")}
            row.judge_picks = metrics_module.judge_picks(selections(run, instance_id), resolved)
        graded.append(row)
    write_atomic(run.path / "eval.jsonl", "".join(g.model_dump_json() + "\n" for g in graded))
    return graded


def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory (holds results.jsonl).", exists=True, file_okay=False),
    all_candidates: bool = typer.Option(False, "--all-candidates", help="Also grade every rollout's patch."),
    workers: int = typer.Option(2, "--workers", help="Patches graded at a time."),
    tasks: str = typer.Option(None, "--tasks", help="Where to find tasks the run did not record (default: bundled)."),
    timeout: int = typer.Option(1800, "--timeout", help="Seconds the tests of one patch may take."),
):
    """Grade a run with the swebench harness; write RUN_DIR/eval.jsonl and print resolved rate, pass@1, oracle."""
    try:
        graded = evaluate(run_dir, all_candidates=all_candidates, workers=workers, tasks=tasks, timeout=timeout)
    except TaskError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    for grade in graded:
        mark = "resolved" if grade.resolved else "unresolved"
        extra = f" ({grade.passed}/{grade.total} rollouts)" if grade.total is not None else ""
        typer.echo(f"{grade.instance_id}: {mark}{extra}" + (f" - {grade.error}" if grade.error else ""))
    for line in metrics_module.summary_lines(metrics_module.compute(graded)):
        typer.echo(line)
    if not all_candidates and any(selections(RunDir(Path(run_dir)), g.instance_id) for g in graded):
        typer.echo("judge accuracy on mixed groups: needs --all-candidates (every candidate graded)")
    typer.echo(f"wrote {Path(run_dir) / 'eval.jsonl'}")
