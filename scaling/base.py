"""The Strategy contract: `solve(task) -> TaskResult`, and the name -> class mapping."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from codescale import configs
from codescale.agent.models.base import ModelConfig
from codescale.agent.models.spending import Spending
from codescale.agent.records import Task, Trajectory
from codescale.scaling.execution import SelectionConfig
from codescale.scaling.judge import JudgeConfig
from codescale.scaling.pdr import PDRConfig
from codescale.scaling.records import TaskResult
from codescale.scaling.rtv import RTVConfig
from codescale.scaling.summarizer import SummarizerConfig


class RolloutFn(Protocol):
    """Runs one rollout in a fresh sandbox and returns its finished trajectory (saved under the task dir); its model
    calls count against `spending`, the task's cap, when given."""

    def __call__(self, task: Task, *, rollout_id: str, generation: int = 0, refinement_context: str = "",
                 spending: Spending | None = None) -> Trajectory: ...


class ScalingConfig(BaseModel):
    """How a task is solved: which strategy and its knobs."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = "single"
    """One of `STRATEGIES`."""
    n: int = Field(16, ge=1)
    """Rollouts per generation (best_of_n, rtv, pdr, pdr+rtv)."""
    concurrency: int = Field(4, ge=1)
    """Rollouts (and summarizer calls) of one task in flight at once, each rollout in its own sandbox."""
    seed: int = 0
    """Seeds every random choice (shuffles, vote orders, tie breaks, random picks), mixed with the task id."""
    max_task_cost: float = Field(0.0, ge=0)
    """USD per task over its rollouts, summaries and judge votes (0: no cap). Once reached, no model call of the task
    starts: its rollouts end with exit status cost_limit, summaries are built without a model, judge votes fail (a
    match goes by its tie rule), and the task ends with what it has (`TaskResult.cap` says so). Needs prices."""
    rtv: RTVConfig = Field(default_factory=RTVConfig)
    pdr: PDRConfig = Field(default_factory=PDRConfig)
    summarizer: SummarizerConfig = Field(default_factory=SummarizerConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    """Execution evidence in selection (`scaling.selection.evidence`: none, filter, judge, both)."""

    @field_validator("strategy")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; known: {', '.join(STRATEGIES)}")
        return value


class Strategy(Protocol):
    def solve(self, task: Task) -> TaskResult: ...

    @staticmethod
    def planned(config: ScalingConfig) -> int:
        """How many rollouts `solve` runs for one task under `config`."""


STRATEGIES = {
    "single": "codescale.scaling.single.Single",
    "best_of_n": "codescale.scaling.strategies.BestOfN",
    "rtv": "codescale.scaling.strategies.RTV",
    "pdr": "codescale.scaling.pdr.PDR",
    "pdr+rtv": "codescale.scaling.pdr.PDRWithRTV",
}

SELECTORS = {"rtv": "rtv", "pdr+rtv": "rtv", "best_of_n": "random", "pdr": "random"}
"""Strategy name -> how its final selection is made (`codescale select` re-makes it over saved rollouts)."""


def strategy_class(name: str) -> type:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    module, _, attribute = STRATEGIES[name].rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def make_strategy(config: ScalingConfig, *, rollout: RolloutFn, model: ModelConfig, task_dir: Path,
                  run_id: str = "") -> Strategy:
    """Build the configured strategy. `model` is the agent's model (summarizer and judge default to it); `run_id`
    labels the sandboxes the strategy itself starts (execution evidence), so that the run's cleanup finds them."""
    return strategy_class(config.strategy)(config, rollout=rollout, model=model, task_dir=task_dir, run_id=run_id)


def planned_rollouts(config: ScalingConfig) -> int:
    """How many rollouts the configured strategy runs for one task (the run engine may start their sandboxes
    ahead, sandboxes/warm.py)."""
    return strategy_class(config.strategy).planned(config)
