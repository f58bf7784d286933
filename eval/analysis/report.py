"""`codescale report RUN_DIR ... -o report.html`: one self-contained HTML file (inline CSS, plots as data URIs,
no network needed to view it) with the comparison table, plots and, per task, the problem statement, every
rollout with its summary and grade, the brackets with their votes and each trajectory step by step.

The page is rendered from configs/report.html.j2 (Jinja2, autoescaped).
"""

from __future__ import annotations

from pathlib import Path


from codescale import configs
from codescale.eval.analysis import plots
from codescale.eval.analysis.compare import (Comparison, compare, cost_table, generations, heading, judges, main_table,
                                             paper)
from codescale.eval.analysis.curves import Curves, selection_curves
from codescale.eval.tasks.grading import mixed_matches
from codescale.eval.analysis.select import evidence_lines
from codescale.eval.runs.rundir import RecordError, RunDir, read_json
from codescale.agent.compact import clip

TEMPLATE = configs.DIR / "report.html.j2"


def judge_accuracy(run: RunDir) -> dict[int, tuple[int, int]]:
    """Round index -> (mixed matches whose winner resolved, mixed matches), over every selection of every task."""
    counts: dict[int, list[int]] = {}
    for instance_id in run.results():
        for index, right in mixed_matches(run.selections(instance_id), run.graded_candidates(instance_id)):
            row = counts.setdefault(index, [0, 0])
            row[0] += right
            row[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}


def run_curves(run: RunDir) -> Curves | None:
    """RUN_DIR/curves.json (from `select --curves`), else the judge-free curves (random pick, oracle, pass@1)."""
    path = run.path / "curves.json"
    if path.is_file():
        return read_json(Curves, path)
    try:
        return selection_curves(run, None, ["random"], seeds=5)
    except RecordError:  # no graded candidates
        return None


def task_view(run: RunDir, instance_id: str, limit: int, trajectories: bool) -> dict:
    """What the report shows of one task in one run."""
    result = run.results()[instance_id]
    grade = run.grades().get(instance_id)
    graded = run.graded_candidates(instance_id)
    rollouts = []
    for generation, ids in enumerate(result.rollouts):
        for rid in ids:
            traj = run.trajectory(instance_id, rid)
            summary = run.summary(instance_id, rid)
            steps = []
            if traj is not None and trajectories:
                steps = [{"index": s.index, "response": clip(s.response, limit), "thinking": clip(s.thinking, limit),
                          "action": s.action, "observation": clip(s.observation, limit), "returncode": s.returncode,
                          "timed_out": s.timed_out, "seconds": s.seconds, "tokens": s.usage.tokens} for s in traj.steps]
            rollouts.append({
                "id": rid, "generation": generation, "grade": graded.get(rid), "final": rid == result.final_rollout,
                "exit_status": traj.exit_status if traj else "missing", "error": traj.error if traj else "",
                "steps": steps, "step_count": len(traj.steps) if traj else 0, "tokens": traj.usage.tokens if traj else 0,
                "patch": clip(traj.patch, limit) if traj else "", "context": clip(traj.refinement_context, limit) if traj else "",
                "summary": summary.markdown() if summary else "", "fallback": bool(summary and summary.fallback),
                "evidence": evidence_lines(run, instance_id, rid),
            })
    return {
        "run": run.name, "strategy": result.strategy, "status": result.status, "error": result.error,
        "final": result.final_rollout, "resolved": grade.resolved if grade else None,
        "grade_error": grade.error if grade else "", "seconds": result.seconds,
        "tokens": result.usage.total.tokens, "rollouts": rollouts, "grades": graded,
        "selections": [s.model_dump() for s in run.selections(instance_id)],
    }


def build(paths: list[Path], limit: int = 4000, trajectories: bool = True, baseline: Path | None = None) -> str:
    """The report's HTML."""
    import jinja2

    runs = [RunDir.existing(p) for p in paths]
    comparison: Comparison | None = None
    note = ""
    try:
        comparison = compare(paths, baseline)
    except RecordError as e:
        note = f"No comparison table: {e}"
    figures = []
    if comparison is not None:
        figures.append(("Resolved vs cost", plots.resolved_vs_cost(comparison)))
    curves = {r.name: c for r in runs if (c := run_curves(r)) is not None and max(c.ns) > 1}
    if curves:
        figures.append(("Resolved vs N", plots.resolved_vs_n(curves)))
    accuracy = {r.name: a for r in runs if (a := judge_accuracy(r))}
    if accuracy:
        figures.append(("Judge accuracy per round", plots.judge_accuracy(accuracy)))
    if comparison is not None and any(r.paper.rounds for r in comparison.runs):
        figures.append(("Resolved rate of RTV survivors per round", plots.survivors_per_round(comparison)))
    if comparison is not None:
        figures.append(("Tokens per phase", plots.tokens_per_phase(comparison)))

    ids = sorted({i for r in runs for i in r.results()})
    tasks = []
    for instance_id in ids:
        task = next((t for r in runs if instance_id in r.results() and (t := r.task(instance_id))), None)
        tasks.append({
            "id": instance_id, "problem": task.problem_statement if task else "(no task.json in the run)",
            "views": [task_view(r, instance_id, limit, trajectories) for r in runs if instance_id in r.results()],
        })
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(TEMPLATE.read_text())
    return template.render(
        runs=runs, comparison=comparison, note=note, figures=figures, tasks=tasks,
        heading=heading(comparison) if comparison else "", main=main_table(comparison) if comparison else None,
        costs=cost_table(comparison) if comparison else None,
        judges=judges(comparison) if comparison else None,
        generations=generations(comparison) if comparison else None,
        paper=[(title, found) for title, found in paper(comparison) if found[1]] if comparison else [],
    )
