"""`codescale evaluate RUN_DIR`: grade a run's final outcomes (and with `all_candidates`, every rollout's), each by its
task's kind (eval/tasks/kinds/), and write RUN_DIR/eval.jsonl. Patches go through the swebench harness (its logs in
RUN_DIR/logs/<run id>/codescale/<id>/); Terminal-Bench tasks were checked in their containers when each rollout
finished: their grades are the saved rewards. A line per graded outcome shows the progress (and goes to the run's
codescale.log)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from codescale.eval.runs.logs import log_to_run
from codescale.eval.runs.progress import clock
from codescale.eval.runs.rundir import RunDir
from codescale.eval.runs.terminal import stderr
from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.grading import CandidateGrade, PatchGrade, TaskGrade, judge_picks
from codescale.eval.tasks.kinds import GradeJob, TaskKind, as_kind, grade
from codescale.eval.tasks.load import load_tasks
from codescale.scaling.records import TaskResult


def _run_tasks(run: RunDir, ids: list[str], source: str | None) -> dict[str, TaskKind]:
    found = {instance_id: task for instance_id in ids if (task := run.task(instance_id)) is not None}
    missing = [i for i in ids if i not in found]
    if missing:
        known = {task.instance_id: task for task in load_tasks(source)}
        for instance_id in missing:
            if instance_id not in known:
                raise TaskError(instance_id, "instance_id", f"no tasks/{instance_id}/task.json in the run and not in "
                                f"{source or 'the bundled suite'} (pass --tasks)")
            found[instance_id] = as_kind(known[instance_id])
    return found


def _candidates(run: RunDir, result: TaskResult) -> list[tuple[str, int, str, str]]:
    """(rollout id, generation, patch, error) of every rollout of a task."""
    rows = []
    for generation, rollout_ids in enumerate(result.rollouts):
        for rollout_id in rollout_ids:
            traj = run.trajectory(result.instance_id, rollout_id)
            if traj is not None:
                rows.append((rollout_id, generation, traj.patch, ""))
            else:
                name = run.files(result.instance_id).trajectory(rollout_id).name
                rows.append((rollout_id, generation, "", f"trajectory {name} is missing"))
    return rows


class GradingProgress:
    """eval.tasks.grading.Graded for a whole run: one line per graded outcome, with the counts and an ETA."""

    def __init__(self, total: int, say: Callable[[str], None]):
        self.total, self.say = total, say
        self.done = self.resolved = 0
        self.start = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, instance_id: str, grade: PatchGrade) -> None:
        with self._lock:
            self.done += 1
            self.resolved += grade.resolved
            elapsed = time.monotonic() - self.start
            eta = clock(elapsed / self.done * (self.total - self.done))
            outcome = "resolved" if grade.resolved else f"not resolved ({grade.error})" if grade.error else "not resolved"
            self.say(f"[{clock(elapsed)}] graded {self.done}/{self.total} ({self.resolved} resolved): {instance_id} "
                     f"{outcome} | ETA {eta}")


def evaluate(run_dir: Path, all_candidates: bool = False, workers: int = 2, tasks: str | None = None,
             timeout: int = 1800, say: Callable[[str], None] = stderr) -> list[TaskGrade]:
    """Grade the final outcome of every task in `run_dir` (and every rollout's, with `all_candidates`), each by its
    task's kind, saying each grade as it comes in; write `eval.jsonl` and return the grades."""
    run = RunDir.existing(run_dir)
    log_to_run(run.log_path)
    results = run.results()
    task_by_id = _run_tasks(run, list(results), tasks)
    finals = [GradeJob(task_by_id[i], r.final_rollout, r.final_patch, run.files(i)) for i, r in results.items()]
    candidates = {i: _candidates(run, r) for i, r in results.items()} if all_candidates else {}
    jobs = finals + [GradeJob(task_by_id[i], rid, patch, run.files(i))
                     for i, rows in candidates.items() for rid, _, patch, _ in rows]
    say(f"grading {len(jobs)} outcomes of {len(results)} tasks, {workers} at a time")
    found = iter(grade(jobs, run.path / "logs", workers, timeout, GradingProgress(len(jobs), say)))
    final_grades = [next(found) for _ in finals]

    graded = []
    for (instance_id, result), final in zip(results.items(), final_grades):
        row = TaskGrade(instance_id=instance_id, final_rollout=result.final_rollout, **final.model_dump())
        if result.status == "error" and not row.error:
            row.error = f"run error: {result.error}"
        if all_candidates:
            for rollout_id, generation, _, error in candidates[instance_id]:
                grade_ = next(found).model_dump()
                grade_["error"] = error or grade_["error"]
                row.candidates.append(CandidateGrade(rollout_id=rollout_id, generation=generation, **grade_))
            row.passed, row.total = sum(c.resolved for c in row.candidates), len(row.candidates)
            resolved = {c.rollout_id: c.resolved for c in row.candidates if not c.error.startswith("trajectory")}
            row.judge_picks = judge_picks(run.selections(instance_id), resolved)
        graded.append(row)
    run.write_grades(graded)
    return graded
