"""`codescale evaluate RUN_DIR`: grade a run's final patches (and with `all_candidates`, every rollout's) with the
swebench harness, write RUN_DIR/eval.jsonl. Terminal-Bench tasks were graded in their containers when each
rollout finished: their grades are the saved rewards. The harness's logs go to RUN_DIR/logs/<run id>/codescale/<id>/."""

from __future__ import annotations

from pathlib import Path

from codescale.agent.records import Task
from codescale.eval.analysis.metrics import judge_picks
from codescale.eval.runs.rundir import RunDir
from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.grading import CandidateGrade, PatchGrade, TaskGrade, grade_patches
from codescale.eval.tasks.images import ensure_images
from codescale.eval.tasks.load import check_gradable, load_tasks
from codescale.eval.tasks.verifier import reward_grade
from codescale.scaling.records import TaskResult


def _run_tasks(run: RunDir, ids: list[str], source: str | None) -> dict[str, Task]:
    found = {instance_id: task for instance_id in ids if (task := run.task(instance_id)) is not None}
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
            traj = run.trajectory(result.instance_id, rollout_id)
            if traj is not None:
                rows.append((rollout_id, generation, traj.patch, ""))
            else:
                rows.append((rollout_id, generation, "", f"trajectory {rollout_id}.traj.json is missing"))
    return rows


def evaluate(run_dir: Path, all_candidates: bool = False, workers: int = 2, tasks: str | None = None,
             timeout: int = 1800) -> list[TaskGrade]:
    """Grade the final patch of every task in `run_dir` (and every rollout's, with `all_candidates`);
    write `eval.jsonl` and return the grades."""
    run = RunDir.existing(run_dir)
    results = run.results()
    task_by_id = _run_tasks(run, list(results), tasks)
    patch_tasks = [task for task in task_by_id.values() if task.outcome == "patch"]
    for task in patch_tasks:
        check_gradable(task)
    ensure_images(patch_tasks, workers)

    items: list[tuple[Task, str]] = []
    candidates: dict[str, list[tuple[str, int, str, str]]] = {}
    for instance_id, result in results.items():
        patch_task = task_by_id[instance_id].outcome == "patch"
        if patch_task:
            items.append((task_by_id[instance_id], result.final_patch))
        if all_candidates:
            candidates[instance_id] = _candidates(run, result)
            if patch_task:
                items += [(task_by_id[instance_id], patch) for _, _, patch, _ in candidates[instance_id]]
    patch_grades = iter(grade_patches(items, run.path / "logs", workers, timeout) if items else [])

    def grade_rollout(instance_id: str, rollout_id: str | None) -> PatchGrade:
        """The next harness grade of a patch task; a container task's saved reward (eval/tasks/verifier.py)."""
        if task_by_id[instance_id].outcome == "container":
            return reward_grade(run.task_dir(instance_id), rollout_id)
        return next(patch_grades)

    graded = []
    for instance_id, result in results.items():
        final = grade_rollout(instance_id, result.final_rollout)
        row = TaskGrade(instance_id=instance_id, final_rollout=result.final_rollout, **final.model_dump())
        if result.status == "error" and not row.error:
            row.error = f"run error: {result.error}"
        if all_candidates:
            for rollout_id, generation, _, error in candidates[instance_id]:
                grade = grade_rollout(instance_id, rollout_id).model_dump()
                grade["error"] = error or grade["error"]
                row.candidates.append(CandidateGrade(rollout_id=rollout_id, generation=generation, **grade))
            row.passed, row.total = sum(c.resolved for c in row.candidates), len(row.candidates)
            resolved = {c.rollout_id: c.resolved for c in row.candidates if not c.error.startswith("trajectory")}
            row.judge_picks = judge_picks(run.selections(instance_id), resolved)
        graded.append(row)
    run.write_grades(graded)
    return graded
