"""The closing table of `codescale demo`: per task the rollouts resolved per generation and the RTV pick;
overall pass@1 (generation 0) vs selected (the picks) vs oracle (any rollout)."""

from __future__ import annotations

from rich.table import Table

from codescale.agent.records import Usage
from codescale.eval.analysis import metrics
from codescale.eval.tasks.grading import TaskGrade
from codescale.eval.runs.rundir import RunDir


EXPLAINED = ("What it shows: pass@1 is what one attempt resolves on average; selected is what the method answers "
             "(PDR's refined generation, then the tournament's pick); oracle is the tasks some rollout resolved, the "
             "most any selection could reach. Selected above pass@1 is the method's gain; below oracle, the judge's "
             "misses.")


def resolved_of(grade: TaskGrade, generation: int) -> str:
    mine = [c.resolved for c in grade.candidates if c.generation == generation]
    return f"{sum(mine)}/{len(mine)}" if mine else "-"


def print_table(console, run_dir: RunDir, grades: list[TaskGrade], seconds: float, usage: Usage, sandbox: str,
                speed: float | None = None) -> None:
    results = run_dir.results()
    table = Table(title=f"codescale demo: pdr+rtv, {sandbox} sandbox")
    table.add_column("task", no_wrap=True)
    for column in ("gen 0 resolved", "gen 1 resolved", "RTV pick", "pick resolved", "pick exit"):
        table.add_column(column)
    for grade in grades:
        result = results.get(grade.instance_id)
        pick = grade.final_rollout or "(none)"
        status = result.exit_statuses.get(grade.final_rollout or "", result.status) if result else "?"
        table.add_row(grade.instance_id.removeprefix("codescale__"), resolved_of(grade, 0), resolved_of(grade, 1), pick,
                      "yes" if grade.resolved else "no" + (f" ({grade.error})" if grade.error else ""), status)
    console.print(table)
    m = metrics.compute(grades)

    def pct(interval) -> str:
        return f"{100 * interval.value:.0f}%" if interval is not None else "-"

    console.print(
        f"pass@1 (generation 0 rollouts) {pct(m.pass_at_1)} | selected (RTV picks) {pct(m.resolved)} | "
        f"oracle (any rollout) {pct(m.oracle)}   over {m.tasks} tasks",
        highlight=False, soft_wrap=True,
    )
    console.print(EXPLAINED, highlight=False, soft_wrap=True)
    line = (f"wall time {seconds / 60:.1f} min; {usage.requests} model requests, {usage.input_tokens} input and "
            f"{usage.output_tokens} output tokens")
    if speed:
        line += f"; generation speed {speed:.0f} tokens/s (measured at start)"
    console.print(line + f"\nrun directory: {run_dir.path} (trajectories, summaries, votes; eval.jsonl for grades)",
                  highlight=False, soft_wrap=True)
