"""Solve one task under the configured strategy and record it in a run directory."""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from pydantic import ValidationError

from codescale.agent.models.base import Model, ModelError
from codescale.agent.records import Task, Trajectory
from codescale.agent.rollout import RolloutConfig, run_rollout, sandbox_config
from codescale.eval.runs.config import RunConfig
from codescale.eval.runs.rundir import RunDir, disk_full
from codescale.eval.tasks import terminal_config
from codescale.eval.tasks.verifier import reward_path, verify_and_save
from codescale.sandboxes.base import sandbox_class
from codescale.scaling.base import make_strategy
from codescale.scaling.records import TaskResult


class PreflightError(Exception):
    """Something that would make every rollout fail, found before anything is written."""


def check_server(base_url: str, timeout: float = 5.0) -> None:
    """Fail fast when an explicit model server does not accept connections."""
    url = urlparse(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise PreflightError(f"--base-url {base_url!r} is not an http(s) URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as e:
        raise PreflightError(f"cannot reach the model server at {base_url} ({e.strerror or e})") from None


def preflight(task: Task, config: RunConfig) -> None:
    """Check the model id, the server and the sandbox source before a run writes anything."""
    try:
        Model(config.model)
    except (ValueError, ModelError) as e:
        raise PreflightError(str(e)) from None
    if config.model.base_url:
        check_server(config.model.base_url)
    settings = sandbox_config(config.sandbox)
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
    try:
        traj = Trajectory.load(path)
    except (OSError, ValidationError):
        return None
    if traj.exit_status is None or traj.exit_status in rerun or traj.refinement_context != refinement_context:
        return None
    return traj


def solve(
    task: Task,
    config: RunConfig,
    run_dir: RunDir,
    run_id: str,
    *,
    watch: RolloutWatch | None = None,
    rerun: Collection[str] = (),
    runner: Callable[..., Trajectory] = run_rollout,
) -> TaskResult:
    """Run the strategy on `task`, append its result to the run directory, and return it.

    A rollout whose trajectory an earlier session finished is reused, not run again (exit statuses in `rerun`
    excepted); its saved summary goes with it. `watch` wraps every rollout that does run; `runner` runs it
    (agent.rollout.run_rollout here, or eval.runs.cluster.Cluster.run_rollout on a Ray cluster)."""
    run_dir.write_task(task)
    task_dir = run_dir.make_task_dir(task.instance_id)
    rollout_config = RolloutConfig(model=config.model, sandbox=terminal_config.sandbox_settings(task, config.sandbox),
                                   agent=terminal_config.agent_config(task, config.agent))
    # a container task is graded in the rollout's own container, once the agent has finished
    after = partial(verify_and_save, task) if task.outcome == "container" else None

    def rollout(task: Task, *, rollout_id: str, generation: int = 0, refinement_context: str = ""):
        done = finished_rollout(task_dir / f"{rollout_id}.traj.json", refinement_context, rerun)
        if done is not None and after is not None and not reward_path(task_dir, rollout_id).is_file():
            done = None  # stopped before its container was checked: the container is gone, so run it again
        if done is not None:
            if watch:
                watch.reused(done)
            return done
        with watch.running(task.instance_id, rollout_id) if watch else nullcontext():
            (task_dir / f"{rollout_id}.summary.json").unlink(missing_ok=True)  # it was of an earlier attempt
            return runner(
                task,
                rollout_config,
                run_id=run_id,
                rollout_id=rollout_id,
                task_dir=task_dir,
                generation=generation,
                refinement_context=refinement_context,
                after=after,
            )

    scaling = terminal_config.scaling_config(task, config.scaling)
    strategy = make_strategy(scaling, rollout=rollout, model=config.model, task_dir=Path(task_dir), run_id=run_id)
    try:
        result = strategy.solve(task)
    except Exception as e:  # a strategy bug or a failure it could not absorb: record it, keep the run going
        if disk_full(e):  # not the task's fault: nothing recorded, the batch stops and a resume runs it
            raise
        result = TaskResult(
            instance_id=task.instance_id, strategy=config.scaling.strategy, status="error", error=f"{type(e).__name__}: {e}"
        )
    run_dir.append_result(result, model_name=config.model.id)
    return result


def run_task(task: Task, config: RunConfig, out: Path, *, overwrite: bool = False, source: str = "") -> TaskResult:
    """`codescale run`: check, then solve one task into the run directory `out` (Ctrl-C removes its sandboxes)."""
    import uuid

    import sys

    from codescale.eval.runs.config import ConfigError, run_warnings
    from codescale.eval.runs.interrupt import exit_on_interrupt

    if task.outcome == "container" and sandbox_config(config.sandbox).kind == "docker":
        from codescale.eval.tasks.images import ensure_image

        ensure_image(task)  # built from the task's environment/, once per content
    preflight(task, config)
    run_dir = RunDir(out)
    if run_dir.results_path.exists() and not overwrite:
        raise ConfigError(f"{out} already holds results; pass --overwrite to replace them")
    if overwrite:
        run_dir.clear()
    run_id = uuid.uuid4().hex[:12]
    warnings = run_warnings(config)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    run_dir.write_config(config.model_dump(mode="json"), run_id, command="run", task=source or task.instance_id,
                         **({"warnings": warnings} if warnings else {}))
    exit_on_interrupt(run_id)
    return solve(task, config, run_dir, run_id)
