"""Selection curves: resolved rate as a function of N, by subsampling a graded run's saved rollouts.

For each N and seed, every task's final pool (its last generation) is subsampled to N rollouts; each
selection method picks one of them and scores 1 when that rollout resolved the task. Beside them: oracle
pass@N (some rollout of the N resolved; the exact expectation over subsets) and pass@1 (a rollout's mean).

RTV asks the run's judge. Its votes are kept in a bank per task, keyed by the ordering shown: a tournament
takes its k-th vote on an ordering from the bank and asks the judge only for votes the bank lacks, so the
cost stays bounded across N and seeds. The bank starts with the votes the run recorded.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from math import comb
from pathlib import Path

from pydantic import BaseModel

from codescale.agent.records import Usage
from codescale.eval.runs.config import ConfigError, RunConfig
from codescale.eval.runs.rundir import RecordError, RunDir
from codescale.eval.runs.saved import saved_population
from codescale.scaling.judge import Judge
from codescale.scaling.population import Population
from codescale.scaling.records import Vote
from codescale.scaling.rtv import prepare, tournament


class Curves(BaseModel):
    """Resolved rate vs N per method; each value a list over seeds (oracle and pass@1 are exact: one value)."""

    run: str
    tasks: int
    """Tasks with every rollout of their final pool graded."""
    seeds: int
    ns: list[int]
    values: dict[str, dict[int, list[float]]]
    """method (`oracle`, `pass@1`, `random`, `rtv`) -> N -> resolved rate per seed."""
    judge_usage: Usage = Usage()
    """Judge calls made for the RTV curve (votes not in the bank)."""

    def mean(self, method: str, n: int) -> float:
        found = self.values[method][n]
        return sum(found) / len(found)


class VoteBank:
    """Judge votes of one task by ordering; a tournament draws its k-th vote on an ordering from here."""

    def __init__(self, ask, recorded: list[Vote]):
        self.ask = ask
        self.votes: dict[tuple[str, ...], list[Vote]] = {}
        self.usage = Usage()
        for vote in recorded:
            self.votes.setdefault(tuple(vote.order), []).append(vote)

    def voter(self):
        """A vote function for one tournament (its own count of votes drawn per ordering)."""
        drawn: dict[tuple[str, ...], int] = {}

        def vote(orders: list[list[str]]) -> list[Vote]:
            wanted = []
            for order in orders:
                key = tuple(order)
                drawn[key] = drawn.get(key, 0) + 1
                wanted.append((key, drawn[key] - 1))
            missing = [list(key) for key, k in wanted if k >= len(self.votes.get(key, []))]
            for new in self.ask(missing) if missing else []:
                self.usage = self.usage + new.usage
                self.votes.setdefault(tuple(new.order), []).append(new)
            return [self.votes[key][k].model_copy() for key, k in wanted]

        return vote


def oracle_at(n: int, total: int, passed: int) -> float:
    """P(some of n rollouts drawn without replacement from `total` resolved), `passed` of them resolving."""
    return 1.0 - comb(total - passed, n) / comb(total, n)


def _seed(*parts: object) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _pools(run: RunDir) -> dict[str, list[str]]:
    """instance id -> its final pool's graded rollouts (tasks with an ungraded rollout left out)."""
    pools = {}
    for instance_id, result in run.results().items():
        graded = run.graded_candidates(instance_id)
        last = result.rollouts[-1] if result.rollouts else []
        if last and all(rid in graded for rid in last):
            pools[instance_id] = list(last)
    if not pools:
        raise RecordError(f"{run.path}/eval.jsonl: no task has graded candidates; "
                          f"run `codescale evaluate {run.path} --all-candidates` first")
    return pools


def _bank(run: RunDir, population: Population, pool: list[str]) -> VoteBank:
    """The vote bank of RTV over this task's pool, starting with the run's recorded votes; summaries the judge needs
    and the run lacks are made (in the population's scratch folder, not in the run)."""
    if population.config.judge.input != "trajectory":  # the judge reads no summary then
        population.summarize(pool)
    judge = Judge(population.config.judge, population.model)
    outcomes = population.outcomes(pool)
    recorded = [v for s in run.selections(population.task.instance_id) for r in s.rounds for m in r.matches
                for v in m.votes]
    return VoteBank(lambda orders: judge.vote(population.task, population.summaries, outcomes, orders,
                                              population.trajectories), recorded)


def selection_curves(run: RunDir, config: RunConfig | None, methods: list[str], ns: list[int] | None = None,
                     seeds: int = 5) -> Curves:
    """Resolved rate vs N for `methods` (`random`, `rtv`) over `seeds` subsamples, with oracle and pass@1. `config`
    (its judge and summarizer) is needed for `rtv` only."""
    if config is None and "rtv" in methods:
        raise ConfigError("the rtv curve needs a configuration (its judge)")
    config = config or RunConfig()  # no model is called without rtv
    unknown = sorted(set(methods) - {"random", "rtv"})
    if unknown:
        raise ConfigError(f"unknown selection method(s) {', '.join(unknown)}; known: random, rtv")
    pools = _pools(run)
    smallest = min(len(p) for p in pools.values())
    ns = ns or sorted({n for n in (1, 2, 4, 8, 16, 32, 64) if n <= smallest} | {smallest})
    if max(ns) > smallest or min(ns) < 1:
        raise ConfigError(f"N must be between 1 and {smallest} (the smallest final pool)")
    grades = {i: run.graded_candidates(i) for i in pools}
    scratch = Path(tempfile.mkdtemp(prefix="codescale-curves-"))
    try:
        populations = {i: saved_population(run, i, config, task_dir=scratch / i) for i in pools}
        patches = {i: populations[i].outcomes(pool) for i, pool in pools.items()}
        banks = {i: _bank(run, populations[i], pool) for i, pool in pools.items()} if "rtv" in methods else {}
        return _curves(run, config, methods, ns, seeds, pools, grades, patches, banks)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _curves(run: RunDir, config: RunConfig, methods: list[str], ns: list[int], seeds: int, pools: dict,
            grades: dict, patches: dict, banks: dict) -> Curves:
    """The curves from every task's pool, grades, outcomes and vote bank (RTV's judge calls happen here)."""
    values: dict[str, dict[int, list[float]]] = {"oracle": {}, "pass@1": {}, **{m: {} for m in methods}}
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    for n in ns:
        values["oracle"][n] = [mean([oracle_at(n, len(p), sum(grades[i][r] for r in p)) for i, p in pools.items()])]
        values["pass@1"][n] = [mean([sum(grades[i][r] for r in p) / len(p) for i, p in pools.items()])]
        for method in methods:
            values[method][n] = []
        for s in range(seeds):
            scores: dict[str, list[float]] = {m: [] for m in methods}
            for i, pool in pools.items():
                sub = random.Random(_seed(s, i, n)).sample(pool, n)
                for method in methods:
                    scores[method].append(float(grades[i][_pick(method, sub, i, s, patches[i], banks, config)]))
            for method in methods:
                values[method][n].append(mean(scores[method]))
    usage = sum((bank.usage for bank in banks.values()), Usage())
    return Curves(run=str(run.path), tasks=len(pools), seeds=seeds, ns=ns, values=values, judge_usage=usage)


def _pick(method: str, sub: list[str], instance_id: str, seed: int, patches: dict[str, str], banks: dict,
          config: RunConfig) -> str:
    """The rollout `method` selects from the subsample: a seeded pick among non-empty patches, or RTV's winner."""
    if method == "random":
        pool = [rid for rid in sub if patches[rid].strip()] or sub
        return random.Random(_seed("random", seed, instance_id, len(sub))).choice(pool)
    candidates, _ = prepare({rid: patches[rid] for rid in sub}, duplicates=config.scaling.rtv.duplicates)
    selection = tournament(candidates, banks[instance_id].voter(), config.scaling.rtv,
                           seed=_seed("rtv", seed, instance_id, len(sub)), stop_at=1, outcomes=patches)
    return selection.winners[0]


def print_curves(curves: Curves) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"resolved vs N over {curves.tasks} tasks ({curves.seeds} subsamples per N)", title_justify="left")
    table.add_column("N", justify="right")
    for method in curves.values:
        table.add_column(method, justify="right")
    for n in curves.ns:
        table.add_row(str(n), *(f"{100 * curves.mean(m, n):.1f}%" for m in curves.values))
    Console().print(table)
