"""Parallel-Distill-Refine: generations of N rollouts, each refined generation conditioned on K summaries
of the previous one; the last generation is chosen by a seeded random pick (`pdr`) or by RTV (`pdr+rtv`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs
from codescale.agent.models.base import ModelConfig
from codescale.agent.records import Task
from codescale.agent.templates import fresh_key, render
from codescale.scaling.population import Population
from codescale.scaling.records import TaskResult

if TYPE_CHECKING:
    from codescale.scaling.base import RolloutFn, ScalingConfig


class PDRConfig(BaseModel):
    """How PDR's generations refine. The context template's default comes from configs/scaling.yaml."""

    model_config = ConfigDict(extra="forbid")

    generations: int = Field(1, ge=0)
    """Refinement generations after generation 0."""
    k: int = Field(4, ge=1)
    """Summaries of the previous generation given to each refined rollout."""
    context: Literal["rtv", "random", "own"] = "rtv"
    """How they are chosen: RTV stopped at k (one choice shared by every refined rollout), a seeded random k drawn
    for each refined rollout, or each rollout's own predecessor (same index)."""
    keep_survivors: bool = False
    """Let the rollouts chosen as context stay in the final pool."""
    context_template: str = Field(default_factory=lambda: configs.load("scaling")["scaling"]["pdr"]["context_template"])
    """Renders the chosen summaries into the agent's `refinement_context`."""


class PDR:
    final = "random"
    """How the last generation is chosen: `random` (pdr) or `rtv` (pdr+rtv)."""
    name = "pdr"

    def __init__(self, config: ScalingConfig, *, rollout: RolloutFn, model: ModelConfig, task_dir: Path,
                 run_id: str = ""):
        self.config, self.rollout, self.model, self.task_dir, self.run_id = config, rollout, model, task_dir, run_id

    @staticmethod
    def planned(config: ScalingConfig) -> int:
        """Every generation's rollouts: the refined ones' sandboxes can start while generation 0 runs."""
        return config.n * (config.pdr.generations + 1)

    def solve(self, task: Task) -> TaskResult:
        population = Population(self.config, task, rollout=self.rollout, model=self.model, task_dir=self.task_dir,
                                run_id=self.run_id)
        contexts, survivors = [""] * self.config.n, []
        for generation in range(self.config.pdr.generations + 1):
            ids = population.run_generation(contexts)  # summarized only where a selection or a context reads them
            if generation == self.config.pdr.generations:
                break
            chosen = self.choose(population, ids, generation)
            survivors += [rid for rids in chosen for rid in rids if rid not in survivors]
            contexts = [self.render(population, rids) for rids in chosen]
            population.contexts.update({f"g{generation + 1}-r{i}": list(rids) for i, rids in enumerate(chosen)})
        pool = ids + (survivors if self.config.pdr.keep_survivors else [])
        if self.final == "rtv":
            final = population.select_rtv(pool, stop_at=self.config.rtv.stop_at)
        else:
            final = population.select_random(pool)
        return population.result(self.name, final)

    def choose(self, population: Population, ids: list[str], generation: int) -> list[list[str]]:
        """For each rollout of the next generation, the ids whose summaries it is given."""
        pdr, stage = self.config.pdr, f"context-g{generation}"
        if pdr.context == "own":
            return [[rid] for rid in ids]
        if pdr.context == "random":
            return population.draw_random(ids, k=pdr.k, draws=self.config.n, stage=stage)
        picked = population.select_rtv(ids, stop_at=pdr.k, stage=stage).winners
        return [picked] * self.config.n

    def render(self, population: Population, ids: list[str]) -> str:
        summaries = population.summarize(ids)
        patches = [population.trajectories[rid].patch for rid in ids]
        key = fresh_key(*(s.markdown() for s in summaries), *patches)
        return render(self.config.pdr.context_template, summaries=summaries, patches=patches, key=key)


class PDRWithRTV(PDR):
    final = "rtv"
    name = "pdr+rtv"
