"""Solve one task under the configured strategy and record it in a run directory."""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from codescale.agent.files import TaskFiles
from codescale.agent.models.spending import Spending
from codescale.agent.records import Task, Trajectory
from codescale.agent.rollout import RolloutConfig, SandboxSpec, run_rollout, sandbox_spec
from codescale.agent.task_sandbox import tightened
from codescale.eval.runs.config import RunConfig
from codescale.eval.runs.opening import PreflightError
from codescale.eval.runs.outcomes import infra_failure
from codescale.eval.runs.resume import RERUN_ON_RETRY
from codescale.eval.runs.rundir import RunDir, disk_full
from codescale.eval.tasks.errors import TaskRefused
from codescale.eval.tasks.kinds import as_kind
from codescale.sandboxes.base import SandboxError, sandbox_class, sandbox_config
from codescale.sandboxes.lifecycle import shutting_down
from codescale.sandboxes.warm import WARM
from codescale.scaling.base import make_strategy, planned_rollouts
from codescale.scaling.records import TaskResult


def tightens_only(task: Task, config: RunConfig) -> None:
    """Refuse (TaskRefused, one line) a task whose own sandbox settings would loosen its run's, before any work."""
    task = as_kind(task)
    try:
        tightened(task.sandbox, task.overlay(config).sandbox, type(task).capabilities)
    except ValueError as e:
        raise TaskRefused(task.instance_id, "sandbox", str(e)) from None


def preflight(task: Task, config: RunConfig) -> None:
    """Check that the task's sandbox can be made (an engine, its image, its repository), with its kind's settings,
    before a run writes anything (TaskError when the settings give the task more than its kind allows)."""
    settings = sandbox_config(as_kind(task).overlay(config).sandbox)
    problem = sandbox_class(settings.kind).check(
        settings, image=task.image, repo_dir=task.repo_dir, base_commit=task.base_commit
    )
    if problem:
        raise PreflightError(f"task {task.instance_id}: {problem}")


class RolloutWatch(Protocol):
    """What a batch run does around the rollouts of a task: budget, a global cap on rollouts, progress."""

    def running(self, task_id: str, rollout_id: str) -> AbstractContextManager[None]:
        """Held while a rollout runs; may wait for a slot, or raise to refuse the rollout (eval.runs.budget)."""
        ...

    def reused(self, traj: Trajectory) -> None:
        """A rollout finished by an earlier session is used instead of being run again."""
        ...


def finished_rollout(path: Path, refinement_context: str, rerun: Collection[str] = ()) -> Trajectory | None:
    """The trajectory at `path` when an earlier session finished it (exit status set, not in `rerun`) with
    the same refinement context; else None (the rollout is run again)."""
    traj = _saved(path)
    if traj is None or traj.exit_status in (None, *rerun) or traj.refinement_context != refinement_context:
        return None
    return traj


def warm_ahead(task: Task, config: RunConfig, run_id: str, count: int, *, at_least: bool = False) -> SandboxSpec | None:
    """Expect `count` more rollouts of `task` under `config` (its kind's overlay applied): up to `sandbox.warm_limit`
    of their sandboxes start ahead (sandboxes/warm.py). Returns the key to `WARM.forget` when the task is done; None
    when nothing starts ahead (a sandbox that does not, e.g. the local one, or a task whose settings are refused)."""
    limit = getattr(sandbox_config(config.sandbox), "warm_limit", 0)
    try:
        spec = sandbox_spec(task, config.sandbox, run_id=run_id)
    except SandboxError:  # each rollout says so itself
        return None
    if limit:
        WARM.expect(spec, lambda: spec.make(f"{task.instance_id}.ahead"), count, limit, at_least=at_least)
    return spec


def solve(
    task: Task,
    config: RunConfig,
    run_dir: RunDir,
    run_id: str,
    *,
    watch: RolloutWatch | None = None,
    rerun: Collection[str] = (),
    runner: Callable[..., Trajectory] = run_rollout,
    prepare_next: Callable[[], None] | None = None,
) -> TaskResult:
    """Run the strategy on `task`, append its result to the run directory, and return it.

    The task's kind is chosen here, once, and its overlay applied to the config (its prompts, limits, resources).
    A rollout whose trajectory an earlier session finished is reused, not run again (exit statuses in `rerun`
    excepted); its saved summary goes with it. `watch` wraps every rollout that does run; `runner` runs it
    (agent.rollout.run_rollout here, or eval.runs.cluster.Cluster.run_rollout on a Ray cluster). Here, the sandboxes
    of the rollouts the strategy plans start ahead, within `sandbox.warm_limit` (sandboxes/warm.py); `prepare_next`
    is called once they are expected (a batch prepares its next task then, after this one)."""
    task = as_kind(task)
    config = task.overlay(config)
    run_dir.write_task(task)
    task_dir = run_dir.make_task_dir(task.instance_id)
    files = TaskFiles(task_dir)
    rollout_config = RolloutConfig(model=config.model, sandbox=config.sandbox, agent=config.agent)

    def rollout(task: Task, *, rollout_id: str, generation: int = 0, refinement_context: str = "",
                spending: Spending | None = None):
        done = finished_rollout(files.trajectory(rollout_id), refinement_context, rerun)
        if done is not None and not task.rollout_complete(files, rollout_id):
            done = None  # e.g. stopped before its container was checked: the container is gone, so run it again
        if done is not None:
            if ahead is not None:
                WARM.skip(ahead)
            if watch:
                watch.reused(done)
            if spending is not None:
                spending.add(done.usage)  # the task's cap spans sessions
            return done
        if spending is not None and (reason := spending.reached()):  # no sandbox for a rollout that cannot call
            if ahead is not None:
                WARM.skip(ahead)
            refused = Trajectory(task_id=task.instance_id, rollout_id=rollout_id, generation=generation,
                                 model=config.model.id, config_digest=rollout_config.digest(),
                                 refinement_context=refinement_context, exit_status="cost_limit", error=reason)
            refused.save(files.trajectory(rollout_id))
            return refused
        with watch.running(task.instance_id, rollout_id) if watch else nullcontext():
            files.summary(rollout_id).unlink(missing_ok=True)  # it was of an earlier attempt
            return runner(
                task,
                rollout_config,
                run_id=run_id,
                rollout_id=rollout_id,
                task_dir=task_dir,
                generation=generation,
                refinement_context=refinement_context,
                after=partial(task.after_rollout, config=config),
                spending=spending,
            )

    strategy = make_strategy(config.scaling, rollout=rollout, model=config.model, task_dir=Path(task_dir), run_id=run_id)
    ahead = warm_ahead(task, config, run_id, planned_rollouts(config.scaling)) if runner is run_rollout else None
    if prepare_next is not None:
        prepare_next()
    try:
        result = strategy.solve(task)
    except Exception as e:  # a strategy bug or a failure it could not absorb: record it, keep the run going
        if disk_full(e):  # not the task's fault: nothing recorded, the batch stops and a resume runs it
            raise
        result = TaskResult(
            instance_id=task.instance_id, strategy=config.scaling.strategy, status="error", error=f"{type(e).__name__}: {e}"
        )
    finally:
        if ahead is not None:
            WARM.forget(ahead)
    if why := infra_failure(result):  # no fair attempt: an error, so the command says so and a rerun retries it
        first = next((t.error for rid in result.exit_statuses if (t := _saved(files.trajectory(rid))) and t.error), "")
        result.status, result.error = "error", why + (f": {first}" if first else "")
    if shutting_down():  # Ctrl-C: its rollouts were cancelled, not failed; the same command runs the task again
        return result
    run_dir.append_result(result, model_name=config.model.id)
    return result


def _saved(path: Path) -> Trajectory | None:
    try:
        return Trajectory.load(path)
    except (OSError, ValidationError):
        return None


def retrying(run_dir: RunDir) -> tuple[str, ...]:
    """The rollout exit statuses to run again in a run directory just opened: a task recorded there failed (its run
    is retried), so its rollouts that ended in model or sandbox errors; none for a new or a killed run (every
    finished rollout of a killed run is reused)."""
    return RERUN_ON_RETRY if run_dir.results() else ()
