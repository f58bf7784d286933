"""The Strategy contract: `solve(task) -> TaskResult`, and the name -> class mapping."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from agent.models.base import ModelConfig
from agent.records import Task, Trajectory
from scaling.records import TaskResult


class RolloutFn(Protocol):
    """Runs one rollout in a fresh sandbox and returns its finished trajectory (saved under the task dir)."""

    def __call__(self, task: Task, *, rollout_id: str, generation: int = 0, refinement_context: str = "") -> Trajectory: ...


class ScalingConfig(BaseModel):
    """How a task is solved: which strategy and its knobs."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = "single"
    """One of `STRATEGIES`."""


class Strategy(Protocol):
    def solve(self, task: Task) -> TaskResult: ...


STRATEGIES = {
    "single": "scaling.single.Single",
}


def make_strategy(config: ScalingConfig, *, rollout: RolloutFn, model: ModelConfig, task_dir: Path) -> Strategy:
    """Build the configured strategy. `model` is the agent's model (summarizer and judge default to it)."""
    if config.strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {config.strategy!r}; known: {', '.join(sorted(STRATEGIES))}")
    module, _, name = STRATEGIES[config.strategy].rpartition(".")
    return getattr(importlib.import_module(module), name)(config, rollout=rollout, model=model, task_dir=task_dir)
