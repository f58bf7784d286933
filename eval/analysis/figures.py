"""The method's own figures per run (Kim et al. 2026): judge accuracy per stage on mixed groups, invalid votes,
summaries' compression, and per generation the rollouts' steps, tokens and wall time, their condensations and
context limits, their diversity and the tasks gained or lost.

Every figure is over the tasks given (compare's shared tasks). Accuracy needs graded candidates
(`evaluate --all-candidates`); without them it is None, and so are pass@1 and the movement between generations.
"""

from __future__ import annotations

from pydantic import BaseModel

from codescale.eval.analysis.metrics import Interval, bootstrap
from codescale.eval.tasks.grading import mixed_matches
from codescale.eval.runs.rundir import RunDir

STAGES = ("context", "final")
"""`context`: PDR's selections of the refinement context (stage context-g<g>); `final`: the answer's bracket."""


class GenerationRow(BaseModel):
    """One generation of a run, over the tasks compared."""

    generation: int
    rollouts: int
    steps_per_rollout: float | None
    tokens_per_rollout: float | None
    """Input + output tokens of the agent per rollout."""
    seconds_per_rollout: float | None
    """Wall time of a rollout (its sandbox included)."""
    condensations_per_rollout: float | None = None
    """Times a rollout's older steps were condensed to stay within the model's context window."""
    context_limits: int = 0
    """Rollouts that ended with exit status context_limit."""
    diversity: float | None
    """Mean over tasks of distinct non-empty patches / rollouts (TaskResult.diversity)."""
    pass_at_1: float | None
    """Mean over tasks of the fraction of this generation's rollouts that resolved (graded candidates only)."""
    gained: int | None = None
    """Tasks some rollout of this generation resolved and none of the previous one did (None for generation 0)."""
    lost: int | None = None
    """Tasks some rollout of the previous generation resolved and none of this one did."""


class RunFigures(BaseModel):
    judge_input: str
    """What the judge saw: summary, summary+diff, trajectory; '-' when nothing was judged."""
    judge_accuracy: dict[str, Interval | None]
    """Stage (`context`, `final`) -> fraction of mixed groups whose winner resolved; `n` counts groups."""
    votes: int
    invalid_votes: int
    empty_votes: int
    failed_votes: int
    tie_rule_picks: int
    """Matches the tie rule settled because votes were missing."""
    fallback_summaries: int
    compression: float | None = None
    """Mean over the summaries of summary tokens / trajectory tokens (estimated); None when no summary records it."""
    generations: list[GenerationRow]

    @property
    def invalid_rate(self) -> float | None:
        return self.invalid_votes / self.votes if self.votes else None


def judge_input(run: RunDir) -> str:
    judge = ((run.config().get("config") or {}).get("scaling") or {}).get("judge") or {}
    return judge.get("input") or ("summary+diff" if judge.get("show_diff") else "summary")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def stage_accuracy(run: RunDir, ids: list[str], resamples: int, seed: int) -> dict[str, Interval | None]:
    picks: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for instance_id in ids:
        graded = run.graded_candidates(instance_id)
        for selection in run.selections(instance_id):
            stage = "final" if selection.stage == "final" else "context"
            picks[stage] += [float(right) for _, right in mixed_matches([selection], graded)]
    return {stage: bootstrap(values, resamples, seed) if values else None for stage, values in picks.items()}


def generation_rows(run: RunDir, ids: list[str]) -> list[GenerationRow]:
    results = [run.results()[i] for i in ids]
    count = max((len(r.rollouts) for r in results), default=0)
    rows, solved_before = [], None
    for g in range(count):
        trajs, diversity, rates, solved = [], [], [], {}
        for result in results:
            if g >= len(result.rollouts):
                continue
            trajs += [t for rid in result.rollouts[g] if (t := run.trajectory(result.instance_id, rid)) is not None]
            if g < len(result.diversity):
                diversity.append(result.diversity[g])
            graded = run.graded_candidates(result.instance_id)
            flags = [graded[rid] for rid in result.rollouts[g] if rid in graded]
            if flags:
                rates.append(sum(flags) / len(flags))
                solved[result.instance_id] = any(flags)
        row = GenerationRow(
            generation=g, rollouts=sum(len(r.rollouts[g]) for r in results if g < len(r.rollouts)),
            steps_per_rollout=_mean([len(t.steps) for t in trajs]), tokens_per_rollout=_mean([t.usage.tokens for t in trajs]),
            seconds_per_rollout=_mean([t.seconds for t in trajs]), diversity=_mean(diversity), pass_at_1=_mean(rates),
            condensations_per_rollout=_mean([len(t.condensations) for t in trajs]),
            context_limits=sum(t.exit_status == "context_limit" for t in trajs),
        )
        if solved_before and solved:
            both = set(solved) & set(solved_before)
            row.gained = sum(solved[i] and not solved_before[i] for i in both)
            row.lost = sum(solved_before[i] and not solved[i] for i in both)
        rows.append(row)
        solved_before = solved
    return rows


def compression(run: RunDir, ids: list[str]) -> float | None:
    """Mean summary tokens / trajectory tokens over the summaries of these tasks' rollouts that record it."""
    ratios = []
    for instance_id in ids:
        for rollout_id in (rid for generation in run.results()[instance_id].rollouts for rid in generation):
            summary = run.summary(instance_id, rollout_id)
            if summary is not None and summary.compression is not None:
                ratios.append(summary.compression)
    return _mean(ratios)


def run_figures(run: RunDir, ids: list[str], resamples: int = 2000, seed: int = 0) -> RunFigures:
    results = [run.results()[i] for i in ids]
    counts = [r.reliability for r in results]
    votes = sum(c.votes for c in counts)
    return RunFigures(
        judge_input=judge_input(run) if votes else "-", judge_accuracy=stage_accuracy(run, ids, resamples, seed),
        votes=votes, invalid_votes=sum(c.invalid_votes for c in counts), empty_votes=sum(c.empty_votes for c in counts),
        failed_votes=sum(c.failed_votes for c in counts), tie_rule_picks=sum(c.tie_rule_picks for c in counts),
        fallback_summaries=sum(c.fallback_summaries for c in counts), compression=compression(run, ids),
        generations=generation_rows(run, ids),
    )


# --- tables ----------------------------------------------------------------------------------


def _pct(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    return f"{100 * interval.value:.1f}% [{100 * interval.low:.1f}, {100 * interval.high:.1f}] ({interval.n})"


def _fmt(value: float | int | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def judge_table(named: list[tuple[str, RunFigures]]) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "judge input", "accuracy: PDR context (groups)", "accuracy: final bracket (groups)",
               "invalid votes", "empty", "failed", "tie-rule picks", "fallback summaries", "summary ÷ trajectory"]
    rows = []
    for name, f in named:
        rate = f.invalid_rate
        invalid = "-" if rate is None else f"{100 * rate:.1f}% ({f.invalid_votes}/{f.votes})"
        rows.append([name, f.judge_input, _pct(f.judge_accuracy.get("context")), _pct(f.judge_accuracy.get("final")),
                     invalid, str(f.empty_votes), str(f.failed_votes), str(f.tie_rule_picks), str(f.fallback_summaries),
                     _fmt(f.compression, ".3f")])
    return headers, rows


def generation_table(named: list[tuple[str, RunFigures]]) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "generation", "rollouts", "steps/rollout", "tokens/rollout", "wall s/rollout", "condensed/rollout",
               "context_limit", "diversity", "pass@1", "tasks gained", "tasks lost"]
    rows = []
    for name, f in named:
        for g in f.generations:
            rows.append([name, str(g.generation), str(g.rollouts), _fmt(g.steps_per_rollout),
                         _fmt(g.tokens_per_rollout, ",.0f"), _fmt(g.seconds_per_rollout),
                         _fmt(g.condensations_per_rollout, ".1f"), str(g.context_limits), _fmt(g.diversity, ".2f"),
                         "-" if g.pass_at_1 is None else f"{100 * g.pass_at_1:.1f}%", _fmt(g.gained, "d"), _fmt(g.lost, "d")])
    return headers, rows
