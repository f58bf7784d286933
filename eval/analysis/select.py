"""`codescale select RUN_DIR --out NEW_RUN_DIR`: run only the final selection again over a run's saved rollouts.

The agent is not called: the new run directory holds hard links (or copies, across file systems) of the old
trajectories, summaries, task records and PDR context selections, and a new `selection.json` per task made
with the new settings (another strategy, vote count, judge, seed, ...). When the old run's candidates were
graded (`evaluate --all-candidates`), the new run's eval.jsonl is written from those grades, without grading.
With `--curves`, it writes the old run's selection curves instead (eval/curves.py).
"""

from __future__ import annotations

import copy
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codescale.eval.runs.config import ConfigError, RunConfig, apply, validate
from codescale.eval.runs.rundir import RecordError, RunDir
from codescale.eval.tasks import terminal_config
from codescale.eval.tasks.grading import TaskGrade
from codescale.scaling.population import Population
from codescale.scaling.records import Selection, TaskResult

SELECTORS = {"rtv": "rtv", "pdr+rtv": "rtv", "best_of_n": "random", "pdr": "random"}
"""Strategy name -> how its final selection is made."""


def select_config(run: RunDir, strategy: str | None, overrides: list[str] = (), flags: dict | None = None) -> RunConfig:
    """The old run's resolved configuration with the strategy name, `-c` overrides and flags applied."""
    tree = copy.deepcopy(run.config().get("config") or {})
    if not tree:
        raise RecordError(f"{run.path}/run.yaml: field 'config' is missing")
    config = validate(apply(tree, overrides, {"scaling.strategy": strategy, **(flags or {})}),
                      f"{run.path}/run.yaml with the overrides")
    if config.scaling.strategy not in SELECTORS:
        raise ConfigError(f"select cannot re-select for strategy {config.scaling.strategy!r}; "
                          f"give --strategy, one of: {', '.join(SELECTORS)}")
    return config


def link(source: Path, target: Path) -> None:
    """`target` as a hard link of `source`, or a byte copy where links are not possible."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def final_pool(result: TaskResult, contexts: list[Selection]) -> list[str]:
    """The rollouts the final selection chose among, in the order the strategy gave them: the last generation,
    then (PDR with keep_survivors) the context winners that entered it."""
    last = list(result.rollouts[-1]) if result.rollouts else []
    entered = set(last)
    if result.selection is not None:
        entered = set(result.selection.candidates) | set(result.selection.dropped)
    pool = list(last)
    for selection in contexts:
        pool += [rid for rid in selection.winners if rid in entered and rid not in pool]
    return pool


def _no_rollouts(*_, **__):
    raise RuntimeError("select runs no rollouts")


def reselect_task(run: RunDir, instance_id: str, config: RunConfig, out: RunDir) -> TaskResult:
    """The new result of one task; its files are linked into `out` and the new selection written there."""
    old = run.results()[instance_id]
    source, target = run.task_dir(instance_id), out.make_task_dir(instance_id)
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name != "selection.json" and not path.name.startswith("."):
            link(path, target / path.name)
    if old.status == "error" or not old.rollouts:
        return old
    task = run.task(instance_id)
    if task is None:
        raise RecordError(f"{source}/task.json: missing (needed by the judge)")
    contexts = [s for s in run.selections(instance_id) if s.stage != "final"]
    scaling = terminal_config.scaling_config(task, config.scaling)  # a container task's judge prompts
    population = Population(scaling, task, rollout=_no_rollouts, model=config.model, task_dir=target)
    population.generations = [list(ids) for ids in old.rollouts]
    for rollout_id in (rid for ids in old.rollouts for rid in ids):
        traj = run.trajectory(instance_id, rollout_id)
        if traj is None:
            raise RecordError(f"{source}/{rollout_id}.traj.json: missing")
        population.trajectories[rollout_id] = traj
        summary = run.summary(instance_id, rollout_id)
        if summary is not None:
            population.summaries[rollout_id] = summary
    population.selections = list(contexts)  # their judge usage stays part of this answer's cost
    pool = final_pool(old, contexts)
    if SELECTORS[config.scaling.strategy] == "rtv":
        final = population.select_rtv(pool, stop_at=config.scaling.rtv.stop_at)
    else:
        final = population.select_random(pool)
    result = population.result(config.scaling.strategy, final)
    result.seconds += old.seconds  # the rollouts' time is part of this answer's; the old selection's is kept too
    return result


def reused_grades(run: RunDir, results: list[TaskResult]) -> list[TaskGrade] | None:
    """eval.jsonl lines for the new results from the old candidate grades; None when some answer was not graded."""
    rows = []
    for result in results:
        old = run.grades().get(result.instance_id)
        if old is None:
            return None
        if result.final_rollout == old.final_rollout:
            rows.append(old)
            continue
        found = {c.rollout_id: c for c in old.candidates}.get(result.final_rollout or "")
        if found is None:
            return None
        grade = TaskGrade(instance_id=result.instance_id, final_rollout=result.final_rollout, resolved=found.resolved,
                          failed_tests=found.failed_tests, error=found.error, reward=found.reward, candidates=old.candidates,
                          passed=old.passed, total=old.total)
        rows.append(grade)
    return rows


def reselect(source: Path, out: Path, config: RunConfig, workers: int = 4) -> tuple[list[TaskResult], bool]:
    """Re-select every task of the run at `source` into a new run directory `out`; (results, grades reused)."""
    run = RunDir.existing(source)
    target = RunDir(out)
    if target.results_path.exists():
        raise ConfigError(f"{out} already holds results; choose a new --out")
    target.path.mkdir(parents=True, exist_ok=True)
    target.write_config(config.model_dump(mode="json"), uuid.uuid4().hex[:12], command="select",
                        source=str(run.path), source_run_id=run.config().get("run_id", ""))
    ids = list(run.results())
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(lambda i: reselect_task(run, i, config, target), ids))
    for result in results:
        target.append_result(result, model_name=config.model.id)
    grades = reused_grades(run, results) if run.grades() else None
    if grades is not None:
        target.write_grades(grades)
    return results, grades is not None
