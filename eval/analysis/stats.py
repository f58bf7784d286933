"""Paired statistics of two runs on the same tasks: the difference in resolved rate with a paired bootstrap
interval, and McNemar's exact test on the tasks where exactly one run resolved."""

from __future__ import annotations

from math import comb

from pydantic import BaseModel

from codescale.eval.analysis.metrics import Interval, bootstrap


class PairedDifference(BaseModel):
    """Run minus baseline over the tasks both have."""

    difference: Interval
    """Mean of per-task differences (1, 0 or -1) with a paired bootstrap interval (tasks resampled together)."""
    wins: int
    """Tasks this run resolved and the baseline did not."""
    losses: int
    """Tasks the baseline resolved and this run did not."""
    ties: int
    """Tasks both resolved or both failed."""
    p_value: float
    """McNemar's exact test (two-sided binomial test on wins vs losses)."""


def mcnemar_exact(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs as a Binomial(wins + losses, 1/2)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(run: list[bool], baseline: list[bool], resamples: int = 2000, seed: int = 0) -> PairedDifference:
    """Compare two runs' resolved flags on the same tasks, in the same order."""
    if len(run) != len(baseline):
        raise ValueError(f"paired comparison needs the same tasks ({len(run)} vs {len(baseline)})")
    diffs = [float(a) - float(b) for a, b in zip(run, baseline)]
    wins = sum(d > 0 for d in diffs)
    losses = sum(d < 0 for d in diffs)
    return PairedDifference(
        difference=bootstrap(diffs, resamples, seed),
        wins=wins,
        losses=losses,
        ties=len(diffs) - wins - losses,
        p_value=mcnemar_exact(wins, losses),
    )
