"""`codescale compare RUN_DIR RUN_DIR ...`: graded runs side by side on the tasks they share.

Per run: resolved rate with a 95% bootstrap interval, the paired difference to the baseline (paired bootstrap
interval, McNemar's exact test), wins / losses / ties, tokens and cost per task and per resolved task by phase (and the
share of input read from a prompt cache), mean steps per rollout and wall time per task; the method's figures
(eval/analysis/figures.py): judge accuracy per stage, invalid votes, per-generation steps, tokens, wall time,
diversity and tasks gained or lost; and the quantities the paper reports (eval/analysis/paper.py, key `paper`).
Every figure is computed over the intersection of the runs'
graded task sets, and the output says how many tasks that is.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from codescale.agent.records import Usage
from codescale.eval.analysis.figures import RunFigures, generation_table, judge_table, run_figures
from codescale.eval.analysis.metrics import Interval, compute
from codescale.eval.analysis.paper import PaperFigures, buckets_table, paper_figures, paper_table, rounds_table
from codescale.eval.analysis.select import evidence_seconds
from codescale.eval.runs.rundir import RecordError, RunDir
from codescale.eval.analysis.stats import PairedDifference, paired

PHASES = ("rollouts", "summaries", "judge", "total")
METHOD = ("Δ: mean per-task difference to the baseline with a 95% paired bootstrap interval "
          "({resamples} resamples, seed {seed}); p: McNemar's exact test (two-sided) on the tasks only one run resolved.")


class PhaseCost(BaseModel):
    """What one phase spent, over the shared tasks."""

    tokens_per_task: float
    """Input + output tokens per task."""
    tokens_per_resolved: float | None
    """Tokens per resolved task (None when none resolved)."""
    cost_per_task: float | None
    """USD per task; None when a price was unknown for some call of this phase."""
    cost_per_resolved: float | None
    cached_input: float | None = None
    """Share of the input tokens read from a prompt cache (billed at the cached rate); None without input."""


class RunRow(BaseModel):
    """One run's line of the comparison."""

    name: str
    path: str
    strategy: str
    model: str
    tasks: int
    """Graded tasks in the run (before the intersection)."""
    resolved: Interval
    """Resolved rate over the shared tasks."""
    pass_at_1: Interval | None = None
    """Generation 0's mean rollout resolved rate (graded candidates only)."""
    oracle: Interval | None = None
    """Some rollout resolved the task (graded candidates only)."""
    vs_baseline: PairedDifference | None = None
    """None for the baseline itself."""
    phases: dict[str, PhaseCost]
    """rollouts, summaries, judge, total."""
    rollouts_per_task: float
    mean_steps: float | None
    """Agent steps per rollout (None when no trajectory was found)."""
    seconds_per_task: float
    """Mean wall time of a task."""
    errors: int
    """Shared tasks whose strategy ended in an error."""
    figures: RunFigures | None = None
    """Judge accuracy per stage, invalid votes, per-generation figures."""
    evidence: str = "none"
    """Execution evidence in selection (`scaling.selection.evidence`)."""
    evidence_seconds_per_task: float = 0.0
    """Sandbox seconds per task its execution evidence cost (all evidence sandboxes added up)."""
    paper: PaperFigures = PaperFigures()
    """Sel-K, the resolved rate of each RTV round's survivors, refined pass@1 by resolving context summaries, tasks
    with no / every rollout resolving, cost per resolved task (Kim et al. 2026); None where unknown."""


class Comparison(BaseModel):
    shared_tasks: list[str]
    """The intersection of the runs' graded task sets; every figure is over these."""
    baseline: str
    method: str
    runs: list[RunRow]


def _per(total: float, count: int) -> float | None:
    return total / count if count else None


def _phase_cost(usages: list[Usage], resolved: int) -> PhaseCost:
    total = sum(usages, Usage())
    unknown = any(u.cost_usd is None and u.requests for u in usages)
    cost = None if unknown else (total.cost_usd or 0.0)
    n = len(usages)
    return PhaseCost(
        tokens_per_task=total.tokens / n if n else 0.0,
        tokens_per_resolved=_per(total.tokens, resolved),
        cost_per_task=None if cost is None or not n else cost / n,
        cost_per_resolved=None if cost is None else _per(cost, resolved),
        cached_input=total.cached_input_tokens / total.input_tokens if total.input_tokens else None,
    )


def _steps(run: RunDir, ids: list[str]) -> float | None:
    counts = []
    for instance_id in ids:
        for rollout_id in (rid for gen in run.results()[instance_id].rollouts for rid in gen):
            traj = run.trajectory(instance_id, rollout_id)
            if traj is not None:
                counts.append(len(traj.steps))
    return sum(counts) / len(counts) if counts else None


def run_row(run: RunDir, shared: list[str], resamples: int, seed: int) -> RunRow:
    grades = [run.grades()[i] for i in shared]
    results = [run.results()[i] for i in shared]
    metrics = compute(grades, resamples, seed)
    resolved = sum(g.resolved for g in grades)
    phases = {
        phase: _phase_cost([r.usage.total if phase == "total" else getattr(r.usage, phase) for r in results], resolved)
        for phase in PHASES
    }
    return RunRow(
        name=run.name, path=str(run.path), strategy=run.strategy, model=run.model, tasks=len(run.grades()),
        resolved=metrics.resolved, pass_at_1=metrics.pass_at_1, oracle=metrics.oracle, phases=phases,
        rollouts_per_task=sum(len(rid) for r in results for rid in r.rollouts) / len(results) if results else 0.0,
        mean_steps=_steps(run, shared),
        seconds_per_task=sum(r.seconds for r in results) / len(results) if results else 0.0,
        errors=sum(r.status == "error" for r in results),
        figures=run_figures(run, shared, resamples, seed),
        evidence=str(run.config().get("config", {}).get("scaling", {}).get("selection", {}).get("evidence", "none")),
        evidence_seconds_per_task=sum(evidence_seconds(run, i) for i in shared) / len(shared) if shared else 0.0,
        paper=paper_figures(run, shared, phases["total"].cost_per_resolved, phases["total"].tokens_per_resolved),
    )


def compare(paths: list[Path], baseline: Path | None = None, resamples: int = 2000, seed: int = 0) -> Comparison:
    """Compare graded runs on their shared tasks; the baseline is `baseline` (added if not listed) or the first."""
    paths = [Path(p) for p in paths]
    if baseline is not None:
        base = Path(baseline).resolve()
        listed = [p for p in paths if p.resolve() == base]
        paths = listed + [p for p in paths if p.resolve() != base] if listed else [Path(baseline), *paths]
    runs = [RunDir.existing(p) for p in paths]
    names = [r.name for r in runs]
    for run in runs:
        if len(set(names)) < len(names):
            run.name = str(run.path)
        if not run.grades():
            raise RecordError(f"{run.path}: no eval.jsonl; grade the run first with `codescale evaluate {run.path}`")
        ungraded = sorted(set(run.results()) - set(run.grades()))
        if ungraded:
            raise RecordError(f"{run.path}/eval.jsonl: no grade for {', '.join(ungraded[:5])}; run `codescale evaluate` again")
    shared = sorted(set.intersection(*(set(r.grades()) for r in runs)))
    rows = [run_row(run, shared, resamples, seed) for run in runs]
    base_flags = [runs[0].grades()[i].resolved for i in shared]
    for run, row in zip(runs[1:], rows[1:]):
        row.vs_baseline = paired([run.grades()[i].resolved for i in shared], base_flags, resamples, seed)
    return Comparison(shared_tasks=shared, baseline=rows[0].name, method=METHOD.format(resamples=resamples, seed=seed),
                      runs=rows)


# --- rendering -------------------------------------------------------------------------------


def _pct(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    return f"{100 * interval.value:.1f}% [{100 * interval.low:.1f}, {100 * interval.high:.1f}]"


def _signed(interval: Interval) -> str:
    return f"{100 * interval.value:+.1f} [{100 * interval.low:+.1f}, {100 * interval.high:+.1f}]"


def _num(value: float | None, money: bool = False) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if money else f"{value:,.0f}"


def main_table(c: Comparison) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "strategy", "tasks", "resolved [95% CI]", "Δ vs baseline [95% CI]", "p", "W/L/T",
               "pass@1", "oracle", "rollouts/task", "steps/rollout", "wall s/task", "evidence", "evidence s/task"]
    rows = []
    for r in c.runs:
        d = r.vs_baseline
        rows.append([
            r.name + (" (baseline)" if r.name == c.baseline else ""), r.strategy, str(r.tasks), _pct(r.resolved),
            _signed(d.difference) if d else "-", f"{d.p_value:.3g}" if d else "-",
            f"{d.wins}/{d.losses}/{d.ties}" if d else "-", _pct(r.pass_at_1), _pct(r.oracle),
            f"{r.rollouts_per_task:.1f}", "-" if r.mean_steps is None else f"{r.mean_steps:.1f}",
            f"{r.seconds_per_task:.1f}", r.evidence, f"{r.evidence_seconds_per_task:.1f}" if r.evidence != "none" else "-",
        ])
    return headers, rows


def cost_table(c: Comparison) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "phase", "tokens/task", "tokens/resolved", "cached input", "cost/task", "cost/resolved"]
    rows = []
    for r in c.runs:
        for phase, p in r.phases.items():
            cached = "-" if p.cached_input is None else f"{100 * p.cached_input:.0f}%"
            rows.append([r.name, phase, _num(p.tokens_per_task), _num(p.tokens_per_resolved), cached,
                         _num(p.cost_per_task, True), _num(p.cost_per_resolved, True)])
    return headers, rows


def judges(c: Comparison) -> tuple[list[str], list[list[str]]]:
    return judge_table([(r.name, r.figures) for r in c.runs if r.figures is not None])


def generations(c: Comparison) -> tuple[list[str], list[list[str]]]:
    return generation_table([(r.name, r.figures) for r in c.runs if r.figures is not None])


def paper(c: Comparison) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    """The paper's quantities as titled tables (eval/analysis/paper.py)."""
    named = [(r.name, r.paper) for r in c.runs]
    return [("The paper's quantities (Kim et al. 2026)", paper_table(named)),
            ("Resolved rate of each RTV round's survivors", rounds_table(named)),
            ("Refined pass@1 by resolving summaries in context", buckets_table(named))]


def heading(c: Comparison) -> str:
    counts = ", ".join(f"{r.name}: {r.tasks}" for r in c.runs)
    return f"Compared on {len(c.shared_tasks)} shared tasks ({counts}); baseline: {c.baseline}."


def markdown(c: Comparison) -> str:
    def table(headers: list[str], rows: list[list[str]]) -> str:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows])

    tables = [table(*main_table(c)), table(*cost_table(c)), table(*judges(c)), table(*generations(c))]
    tables += [f"{title}:\n\n{table(*found)}" for title, found in paper(c) if found[1]]
    return "\n\n".join([heading(c), *tables, c.method]) + "\n"


def print_rich(c: Comparison) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=220)
    console.print(heading(c), highlight=False)
    tables = (("Resolved", main_table(c)), ("Tokens and cost by phase", cost_table(c)),
              ("Judge: accuracy on mixed groups per stage, votes", judges(c)), ("Per generation", generations(c)),
              *((title, found) for title, found in paper(c) if found[1]))
    for title, (headers, rows) in tables:
        table = Table(title=title, title_justify="left")
        for h in headers:
            table.add_column(h, justify="left" if h in ("run", "strategy", "phase", "judge input", "stage") else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(c.method, highlight=False)
