"""Metrics of a graded run: resolved rate of the final answers, pass@1, oracle pass@N, per generation,
each with a 95% bootstrap interval over tasks; judge accuracy on mixed groups (interval over groups)."""

from __future__ import annotations

import random
from typing import Protocol

from pydantic import BaseModel



class Interval(BaseModel):
    """A mean over tasks and its bootstrap confidence interval."""

    value: float
    """The mean over the `n` tasks."""
    low: float
    high: float
    n: int
    """How many tasks it is computed over."""

    def __str__(self) -> str:
        return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}] (n={self.n})"


class GenerationMetrics(BaseModel):
    pass_at_1: Interval
    """Mean over tasks of the fraction of this generation's rollouts that resolved the task."""
    oracle: Interval
    """Fraction of tasks where at least one rollout of this generation resolved it."""
    rollouts: int


class Metrics(BaseModel):
    tasks: int
    resolved: Interval
    """Resolved rate of the final answers."""
    pass_at_1: Interval | None = None
    """pass@1: generation 0's mean (needs graded candidates)."""
    oracle: Interval | None = None
    """Oracle pass@N: some rollout of any generation resolved the task."""
    per_generation: dict[int, GenerationMetrics] = {}
    judge_accuracy: Interval | None = None
    """Over every judged group with at least one resolved and one unresolved candidate (all tasks, all
    selections): the fraction where the judge's pick resolved the task. Its `n` counts groups, not tasks."""


class _Candidate(Protocol):
    generation: int
    resolved: bool


class _Graded(Protocol):
    resolved: bool
    candidates: list
    judge_picks: list[bool]


def bootstrap(values: list[float], resamples: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """The mean of `values` with a percentile bootstrap interval (fixed seed, so the same data give the same
    interval)."""
    n = len(values)
    if n == 0:
        return Interval(value=0.0, low=0.0, high=0.0, n=0)
    mean = sum(values) / n
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    low = means[int(tail * resamples)]
    high = means[min(resamples - 1, int((1 - tail) * resamples))]
    return Interval(value=mean, low=min(low, mean), high=max(high, mean), n=n)


def compute(grades: list[_Graded], resamples: int = 2000, seed: int = 0) -> Metrics:
    """Metrics from task grades (objects with `resolved` and `candidates`, each with `generation`, `resolved`)."""
    metrics = Metrics(
        tasks=len(grades),
        resolved=bootstrap([float(g.resolved) for g in grades], resamples, seed),
    )
    picks = [float(p) for g in grades for p in getattr(g, "judge_picks", [])]
    if picks:
        metrics.judge_accuracy = bootstrap(picks, resamples, seed)
    graded = [g for g in grades if g.candidates]
    if not graded:
        return metrics
    generations = sorted({c.generation for g in graded for c in g.candidates})
    for generation in generations:
        rates, any_resolved, count = [], [], 0
        for grade in graded:
            mine = [c.resolved for c in grade.candidates if c.generation == generation]
            if mine:
                rates.append(sum(mine) / len(mine))
                any_resolved.append(float(any(mine)))
                count += len(mine)
        metrics.per_generation[generation] = GenerationMetrics(
            pass_at_1=bootstrap(rates, resamples, seed), oracle=bootstrap(any_resolved, resamples, seed), rollouts=count
        )
    metrics.pass_at_1 = metrics.per_generation[generations[0]].pass_at_1
    metrics.oracle = bootstrap([float(any(c.resolved for c in g.candidates)) for g in graded], resamples, seed)
    return metrics


def summary_lines(metrics: Metrics) -> list[str]:
    lines = [f"tasks: {metrics.tasks}", f"resolved (final answers): {metrics.resolved}"]
    if metrics.pass_at_1 is not None:
        lines.append(f"pass@1 (generation 0 rollouts): {metrics.pass_at_1}")
        lines.append(f"oracle pass@N (any rollout): {metrics.oracle}")
    if metrics.judge_accuracy is not None:
        lines.append(f"judge accuracy on mixed groups (picked a resolved candidate): {metrics.judge_accuracy} groups")
    if len(metrics.per_generation) > 1:
        for generation, row in metrics.per_generation.items():
            lines.append(
                f"generation {generation}: pass@1 {row.pass_at_1}, oracle {row.oracle}, {row.rollouts} rollouts"
            )
    return lines
