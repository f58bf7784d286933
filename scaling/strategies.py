"""The one-generation strategies over N rollouts: `best_of_n` (a seeded random pick, a baseline) and `rtv`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from codescale.agent.models.base import ModelConfig
from codescale.agent.records import Task
from codescale.scaling.population import Population
from codescale.scaling.records import TaskResult

if TYPE_CHECKING:
    from codescale.scaling.base import RolloutFn, ScalingConfig


class BestOfN:
    """N rollouts; the answer is a seeded uniform pick among those with a non-empty patch. No model judges."""

    def __init__(self, config: ScalingConfig, *, rollout: RolloutFn, model: ModelConfig, task_dir: Path,
                 run_id: str = ""):
        self.config, self.rollout, self.model, self.task_dir, self.run_id = config, rollout, model, task_dir, run_id

    @staticmethod
    def planned(config: ScalingConfig) -> int:
        return config.n

    def solve(self, task: Task) -> TaskResult:
        population = Population(self.config, task, rollout=self.rollout, model=self.model, task_dir=self.task_dir,
                                run_id=self.run_id)
        ids = population.run_generation([""] * self.config.n)
        return population.result("best_of_n", population.select_random(ids))


class RTV(BestOfN):
    """N rollouts; the answer is the winner of a full tournament (`scaling.rtv`) over the distinct non-empty
    patches, whose rollouts alone are summarized."""

    def solve(self, task: Task) -> TaskResult:
        population = Population(self.config, task, rollout=self.rollout, model=self.model, task_dir=self.task_dir,
                                run_id=self.run_id)
        ids = population.run_generation([""] * self.config.n)
        return population.result("rtv", population.select_rtv(ids, stop_at=self.config.rtv.stop_at))
