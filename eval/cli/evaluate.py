"""`codescale evaluate RUN_DIR`: grade a run with the swebench harness and print the metrics."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import RunDirArg, TrackOpt, check_tracker, command, examples, track_run

EXAMPLES = examples(
    "codescale evaluate runs/suite --all-candidates",
    "codescale evaluate runs/one --tasks tasks.jsonl",
)


@command
def evaluate(
    run_dir: RunDirArg,
    all_candidates: Annotated[bool, typer.Option("--all-candidates", help="Also grade every rollout's patch.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Patches graded at a time.")] = 2,
    tasks: Annotated[Optional[str], typer.Option("--tasks", help="Where to find tasks the run did not record "
                                                 "(default: bundled).")] = None,
    timeout: Annotated[int, typer.Option("--timeout", help="Seconds the tests of one patch may take.")] = 1800,
    track: TrackOpt = None,
) -> None:
    """Grade a run with the swebench harness (Terminal-Bench tasks: their saved rewards); write RUN_DIR/eval.jsonl
    and print resolved rate, pass@1, oracle."""
    from codescale.eval.analysis.metrics import compute, summary_lines
    from codescale.eval.runs.evaluate import evaluate as grade_run
    from codescale.eval.runs.rundir import RunDir

    check_tracker(track)
    graded = grade_run(run_dir, all_candidates=all_candidates, workers=workers, tasks=tasks, timeout=timeout)
    for grade in graded:
        mark = "resolved" if grade.resolved else "unresolved"
        extra = f" ({grade.passed}/{grade.total} rollouts)" if grade.total is not None else ""
        extra += f" (reward {grade.reward:g})" if grade.reward is not None else ""
        typer.echo(f"{grade.instance_id}: {mark}{extra}" + (f" - {grade.error}" if grade.error else ""))
    for line in summary_lines(compute(graded)):
        typer.echo(line)
    run = RunDir(run_dir)
    if not all_candidates and any(run.selections(g.instance_id) for g in graded):
        typer.echo("judge accuracy on mixed groups: needs --all-candidates (every candidate graded)")
    typer.echo(f"wrote {run.grades_path}")
    track_run(run_dir, track)
