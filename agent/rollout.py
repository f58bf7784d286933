"""One rollout end to end: a fresh sandbox for the task, the agent loop in it, the trajectory on disk."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from codescale.agent.files import TaskFiles
from codescale.agent.loop import Agent, AgentConfig
from codescale.agent.models.base import Model, ModelConfig
from codescale.agent.models.spending import Spending
from codescale.agent.records import Task, Trajectory
from codescale.agent.task_sandbox import tightened
from codescale.sandboxes.base import Sandbox, SandboxError, sandbox_class, sandbox_config
from codescale.sandboxes.lifecycle import Stopped, shutting_down
from codescale.sandboxes.warm import WARM

log = logging.getLogger(__name__)


class RolloutConfig(BaseModel):
    """Everything one rollout needs: which model, which sandbox, which agent limits and prompts."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig = Field(default_factory=ModelConfig)
    sandbox: dict[str, Any] = {"kind": "docker"}
    """`kind` picks the sandbox; the other keys are that sandbox's config (validated against it)."""
    agent: AgentConfig = Field(default_factory=AgentConfig)

    @field_validator("sandbox")
    @classmethod
    def _validate_sandbox(cls, value: dict[str, Any]) -> dict[str, Any]:
        sandbox_config(value)  # raises with the offending key named
        return value

    @model_validator(mode="after")
    def _persistent_needs_a_session(self) -> RolloutConfig:
        if self.agent.shell_state == "persistent" and getattr(sandbox_config(self.sandbox), "shell", "") != "session":
            raise ValueError("agent.shell_state: persistent needs the docker sandbox with sandbox.shell: session")
        return self

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SandboxSpec:
    """What makes a task's sandbox; sandboxes of equal specs are interchangeable (sandboxes.warm starts them ahead)."""

    kind: str
    config: str
    """The sandbox's config, as JSON."""
    image: str
    workdir: str
    repo_dir: str
    base_commit: str
    run_id: str

    def make(self, name: str) -> Sandbox:
        """A new sandbox of this spec, not started; `name` labels it."""
        cls = sandbox_class(self.kind)
        return cls(cls.config_class.model_validate_json(self.config), image=self.image, workdir=self.workdir,
                   repo_dir=self.repo_dir, base_commit=self.base_commit, run_id=self.run_id, name=name)


def sandbox_spec(task: Task, settings: dict[str, Any], *, run_id: str) -> SandboxSpec:
    """The configured sandbox for `task`: the run's `settings`, tightened by the task's own (agent/task_sandbox.py)."""
    try:
        config = sandbox_config(tightened(task.sandbox, settings, type(task).capabilities))
    except ValueError as e:
        raise SandboxError(f"task {task.instance_id}: field 'sandbox': {e}") from None
    return SandboxSpec(config.kind, config.model_dump_json(), task.image, task.workdir, task.repo_dir, task.base_commit,
                       run_id)


def open_sandbox(task: Task, settings: dict[str, Any], *, run_id: str, name: str) -> Sandbox:
    """A fresh sandbox for `task` (see `sandbox_spec`), not yet entered."""
    return sandbox_spec(task, settings, run_id=run_id).make(name)


def run_rollout(
    task: Task,
    config: RolloutConfig,
    *,
    run_id: str,
    rollout_id: str,
    task_dir: Path,
    generation: int = 0,
    refinement_context: str = "",
    model: Model | None = None,
    after: Callable[[Sandbox, Trajectory, Path], None] | None = None,
    spending: Spending | None = None,
) -> Trajectory:
    """Run one rollout in a fresh sandbox; the trajectory is saved as `task_dir/<rollout_id>.traj.json`.

    The sandbox is one started ahead (sandboxes.warm), or starts in the background while the first model call
    runs (the agent waits for it before its first command). Only the first sandbox of a source in this process is
    waited for before that call, until its work directory and base commit are found, so that their absence costs no
    model call. The sandbox is removed in the background afterwards (sandboxes.lifecycle.settle waits for that).
    Model and sandbox failures end the rollout with exit status model_error / sandbox_error; they are not raised.
    `after(sandbox, trajectory, task_dir)` runs once the agent has finished, while the container still lives
    (e.g. to check a Terminal-Bench task's end state, saving what it found in `task_dir`); its SandboxError ends
    the rollout like any other. `spending`: the cap of the rollout's task (its model's calls count against it; once
    it is reached the rollout ends with exit status cost_limit).
    """
    path = TaskFiles(task_dir).trajectory(rollout_id)
    traj = Trajectory(
        task_id=task.instance_id,
        rollout_id=rollout_id,
        generation=generation,
        model=config.model.id,
        config_digest=config.digest(),
        refinement_context=refinement_context,
    )
    spec = sandbox_spec(task, config.sandbox, run_id=run_id)
    sandbox = WARM.take(spec) or spec.make(f"{task.instance_id}.{rollout_id}")
    try:
        with closing(sandbox.start()):
            sandbox.wait_source()  # a missing work directory or base commit ends the rollout before any model call
            model = model or Model(config.model, spending)
            traj = Agent(config.agent, model, sandbox, traj, path).run(task, getattr(sandbox, "workdir", ""))
            if after is not None:
                after(sandbox, traj, Path(task_dir))
    except SandboxError as e:
        if shutting_down():  # removed by an interrupt: what was saved stays unfinished, so a resume runs it again
            raise Stopped(str(e)) from None
        traj.exit_status, traj.error = "sandbox_error", str(e)
        traj.save(path)
    log_end(traj)
    return traj


def log_end(traj: Trajectory) -> None:
    """A line in the log for each rollout's end; a warning when it ended on a model or sandbox failure."""
    where = f"rollout {traj.task_id}/{traj.rollout_id}"
    if traj.exit_status in ("model_error", "sandbox_error"):
        log.warning("%s: %s after %d steps: %s", where, traj.exit_status, len(traj.steps), traj.error)
    else:
        log.info("%s: %s after %d steps, %.1f s, %d tokens", where, traj.exit_status, len(traj.steps), traj.seconds,
                 traj.usage.tokens)
