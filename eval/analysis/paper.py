"""The quantities Kim et al. 2026 report, per run, over the tasks compared (`compare`'s `paper` key).

- `sel_k`: mean resolved rate of the rollouts chosen as PDR context (per refined rollout, then over tasks).
- `rounds`: per RTV stage and round, the mean resolved rate of that round's survivors (round 0: the entrants).
- `context_buckets`: refined pass@1 by how many of a refined rollout's K context summaries came from resolving
  rollouts ("0/4" ... "4/4").
- `all_fail`, `all_pass`: tasks where no rollout / every rollout of the final generation resolved.
- `cost_per_resolved`: USD and tokens per resolved task.

Everything needs graded candidates (`evaluate --all-candidates`) but the cost; a value that cannot be known from the
run's files is None (null), never estimated. A task counts in a figure only when every rollout that figure reads was
graded.
"""

from __future__ import annotations

from pydantic import BaseModel

from codescale.eval.runs.rundir import RunDir
from codescale.scaling.records import Selection, TaskResult


class RoundPoint(BaseModel):
    """One round of one RTV stage, over the tasks that played it."""

    stage: str
    """The selection's stage: `final`, or `context-g<g>` (PDR's choice of context from generation g)."""
    round: int
    """0: the entrants; r: the survivors of round r."""
    survivors: float
    """Mean number of candidates left, over those tasks."""
    resolved_rate: float
    """Mean over those tasks of the fraction of these candidates that resolved the task."""


class ContextBucket(BaseModel):
    tasks: int
    """Tasks with at least one refined rollout in this bucket."""
    refined_pass_at_1: float | None
    """Mean over those tasks of the resolved rate of their refined rollouts in this bucket (None: no task)."""


class CostPerResolved(BaseModel):
    usd: float | None
    """USD per resolved task; None when a price was unknown."""
    tokens: float
    """Input + output tokens per resolved task."""


class PaperFigures(BaseModel):
    sel_k: float | None = None
    rounds: list[RoundPoint] | None = None
    context_buckets: dict[str, ContextBucket] | None = None
    all_fail: int | None = None
    all_pass: int | None = None
    cost_per_resolved: CostPerResolved | None = None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def contexts(result: TaskResult, selections: list[Selection]) -> dict[str, list[str]]:
    """Refined rollout id -> its context's rollout ids: as recorded, or (a run written before they were recorded)
    the winners of the shared context selection of the generation before it."""
    if result.contexts:
        return result.contexts
    shared = {s.stage: s.winners for s in selections if s.stage.startswith("context-g")}
    found = {}
    for generation, ids in enumerate(result.rollouts[1:], start=1):
        winners = shared.get(f"context-g{generation - 1}")
        found.update({rid: list(winners) for rid in ids} if winners else {})
    return found


def _sel_k(run: RunDir, ids: list[str]) -> float | None:
    per_task = []
    for instance_id in ids:
        graded = run.graded_candidates(instance_id)
        chosen = contexts(run.results()[instance_id], run.selections(instance_id)).values()
        rates = [sum(graded[r] for r in ctx) / len(ctx) for ctx in chosen if ctx and all(r in graded for r in ctx)]
        if rates and len(rates) == len(chosen):
            per_task.append(sum(rates) / len(rates))
    return _mean(per_task)


def _rounds(run: RunDir, ids: list[str]) -> list[RoundPoint] | None:
    found: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for instance_id in ids:
        graded = run.graded_candidates(instance_id)
        for selection in run.selections(instance_id):
            if selection.method != "rtv" or not selection.rounds:
                continue
            steps = [selection.candidates] + [[w for m in r.matches for w in m.winners] for r in selection.rounds]
            if not all(rid in graded for rid in selection.candidates):
                continue
            for index, alive in enumerate(steps):
                found.setdefault((selection.stage, index), []).append((len(alive), sum(graded[r] for r in alive) / len(alive)))
    if not found:
        return None
    order = sorted(found, key=lambda key: (key[0] != "final", key[0], key[1]))  # final first, then contexts by name
    return [RoundPoint(stage=stage, round=index, survivors=_mean([n for n, _ in found[(stage, index)]]),
                       resolved_rate=_mean([rate for _, rate in found[(stage, index)]]))
            for stage, index in order]


def _context_size(run: RunDir) -> int:
    pdr = ((run.config().get("config") or {}).get("scaling") or {}).get("pdr") or {}
    return 1 if pdr.get("context") == "own" else int(pdr.get("k") or 4)


def _buckets(run: RunDir, ids: list[str]) -> dict[str, ContextBucket] | None:
    k = _context_size(run)
    per_bucket: dict[int, list[float]] = {b: [] for b in range(k + 1)}
    seen = False
    for instance_id in ids:
        graded = run.graded_candidates(instance_id)
        mine: dict[int, list[bool]] = {}
        for refined, ctx in contexts(run.results()[instance_id], run.selections(instance_id)).items():
            seen = True
            if refined in graded and all(r in graded for r in ctx):
                mine.setdefault(min(k, sum(graded[r] for r in ctx)), []).append(graded[refined])
        for bucket, flags in mine.items():
            per_bucket[bucket].append(sum(flags) / len(flags))
    if not seen:
        return None
    return {f"{b}/{k}": ContextBucket(tasks=len(rates), refined_pass_at_1=_mean(rates)) for b, rates in per_bucket.items()}


def _extremes(run: RunDir, ids: list[str]) -> tuple[int | None, int | None]:
    flags = []
    for instance_id in ids:
        result, graded = run.results()[instance_id], run.graded_candidates(instance_id)
        last = result.rollouts[-1] if result.rollouts else []
        if last and all(rid in graded for rid in last):
            flags.append([graded[rid] for rid in last])
    if not flags:
        return None, None
    return sum(not any(f) for f in flags), sum(all(f) for f in flags)


def paper_figures(run: RunDir, ids: list[str], usd_per_resolved: float | None,
                  tokens_per_resolved: float | None) -> PaperFigures:
    """The paper's quantities for `run` over the tasks `ids`; the cost per resolved task as compare computed it."""
    all_fail, all_pass = _extremes(run, ids)
    cost = None if tokens_per_resolved is None else CostPerResolved(usd=usd_per_resolved, tokens=tokens_per_resolved)
    return PaperFigures(sel_k=_sel_k(run, ids), rounds=_rounds(run, ids), context_buckets=_buckets(run, ids),
                        all_fail=all_fail, all_pass=all_pass, cost_per_resolved=cost)


# --- tables ----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def paper_table(named: list[tuple[str, PaperFigures]]) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "Sel-K", "tasks no rollout resolved", "tasks every rollout resolved", "USD/resolved",
               "tokens/resolved"]
    rows = []
    for name, p in named:
        cost = p.cost_per_resolved
        rows.append([name, _pct(p.sel_k), "-" if p.all_fail is None else str(p.all_fail),
                     "-" if p.all_pass is None else str(p.all_pass),
                     "-" if cost is None or cost.usd is None else f"${cost.usd:.4f}",
                     "-" if cost is None else f"{cost.tokens:,.0f}"])
    return headers, rows


def rounds_table(named: list[tuple[str, PaperFigures]]) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "stage", "round", "survivors", "resolved"]
    rows = [[name, r.stage, str(r.round), f"{r.survivors:.1f}", _pct(r.resolved_rate)]
            for name, p in named for r in p.rounds or []]
    return headers, rows


def buckets_table(named: list[tuple[str, PaperFigures]]) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "resolving summaries in context", "tasks", "refined pass@1"]
    rows = [[name, bucket, str(b.tasks), _pct(b.refined_pass_at_1)]
            for name, p in named for bucket, b in (p.context_buckets or {}).items()]
    return headers, rows
