"""A task's saved rollouts loaded back into the scaling pipeline: the one way `select`, selection curves and the CI
bot work on rollouts a run already made (no rollout is run again)."""

from __future__ import annotations

from pathlib import Path

from codescale.eval.runs.config import RunConfig
from codescale.eval.runs.rundir import RecordError, RunDir
from codescale.scaling.population import Population


def _no_rollouts(*_, **__):
    raise RuntimeError("saved rollouts are only read: no rollout is run")


def saved_population(run: RunDir, instance_id: str, config: RunConfig, *, task_dir: Path | None = None,
                     run_id: str = "") -> Population:
    """The population of one finished task of `run`: its task (as its kind, with the kind's overlay on `config`),
    generations, trajectories, summaries and PDR context selections. What the population writes (new summaries,
    selections, evidence) goes to `task_dir` (default: the task's folder in `run`). RecordError names a missing file."""
    task = run.task(instance_id)
    if task is None:
        raise RecordError(f"{run.files(instance_id).task}: missing")
    result = run.results()[instance_id]
    config = task.overlay(config)
    population = Population(config.scaling, task, rollout=_no_rollouts, model=config.model,
                            task_dir=task_dir or run.task_dir(instance_id), run_id=run_id)
    population.generations = [list(ids) for ids in result.rollouts]
    population.contexts = {rid: list(ids) for rid, ids in result.contexts.items()}
    for rollout_id in (rid for ids in result.rollouts for rid in ids):
        traj = run.trajectory(instance_id, rollout_id)
        if traj is None:
            raise RecordError(f"{run.files(instance_id).trajectory(rollout_id)}: missing")
        population.trajectories[rollout_id] = traj
        if (summary := run.summary(instance_id, rollout_id)) is not None:
            population.summaries[rollout_id] = summary
    population.selections = [s for s in run.selections(instance_id) if s.stage != "final"]
    return population
