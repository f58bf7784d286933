"""`codescale select RUN_DIR --out NEW_RUN_DIR`: the final selection again over a run's saved rollouts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.analysis.select import SELECTORS
from codescale.eval.cli.common import BaseUrlOpt, ConfigOpt, RunDirArg, command, examples, fail, flags

EXAMPLES = examples(
    "codescale select runs/a -c scaling.rtv.votes=16 --out runs/a-v16",
    "codescale select runs/a --curves",
)


@command
def select(
    run_dir: RunDirArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="The new run directory to write.")] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", help=f"Final selection: {', '.join(SELECTORS)}.")] = None,
    config: ConfigOpt = [],
    model: Annotated[Optional[str], typer.Option("--model", help="Model id of the judge (and summarizer), if not the run's.")] = None,
    base_url: BaseUrlOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="Tasks re-selected at a time.")] = 4,
    curves: Annotated[bool, typer.Option("--curves", help="Write RUN_DIR/curves.json: resolved rate vs N per selection method.")] = False,
    ns: Annotated[Optional[str], typer.Option("--n", help="Comma-separated N for --curves (default: powers of two up to the pool).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Subsamples per N for --curves.")] = 5,
    methods: Annotated[str, typer.Option("--methods", help="Selection methods for --curves: random, rtv.")] = "random,rtv",
    evidence: Annotated[Optional[str], typer.Option("--evidence", help="Execution evidence: none, filter, judge, both; "
                        "several, comma-separated, write OUT/<mode> each, gathering the evidence once.")] = None,
) -> None:
    """Re-run only the selection over a run's saved rollouts (judge calls, no agent), or compute selection curves."""
    from codescale.agent.files import write_atomic
    from codescale.eval.analysis.curves import print_curves, selection_curves
    from codescale.eval.analysis.select import reselect, reselect_modes, select_config
    from codescale.eval.runs.rundir import RunDir

    start = time.monotonic()
    run = RunDir.existing(run_dir)
    resolved = select_config(run, strategy, config, flags(model=model, base_url=base_url))
    if curves:
        try:
            sizes = [int(x) for x in ns.split(",")] if ns else None
        except ValueError:
            raise fail(f"--n {ns!r}: expected comma-separated whole numbers") from None
        made = selection_curves(run, resolved, methods.split(","), sizes, seeds)
        write_atomic(run.path / "curves.json", made.model_dump_json(indent=1))
        print_curves(made)
        typer.echo(f"wrote {run.path / 'curves.json'}")
        return
    if out is None:
        raise fail("--out NEW_RUN_DIR is needed (or --curves)")
    old = run.results()
    modes = evidence.split(",") if evidence else []
    if len(modes) > 1:
        for mode, (results, graded) in reselect_modes(run_dir, out, resolved, modes, workers).items():
            report(results, graded, old, out / mode, f" (evidence: {mode})")
        typer.echo(f"{time.monotonic() - start:.1f} s; compare them: codescale compare "
                   + " ".join(str(out / m) for m in modes))
        return
    if modes:
        resolved = select_config(run, strategy, config, {**flags(model=model, base_url=base_url),
                                                         "scaling.selection.evidence": modes[0]})
    report(*reselect(run_dir, out, resolved, workers), old, out)
    typer.echo(f"{time.monotonic() - start:.1f} s")


def report(results: list, graded: bool, old: dict, out: Path, label: str = "") -> None:
    """What a re-selection changed, in three lines."""
    changed = [r.instance_id for r in results if r.final_rollout != old[r.instance_id].final_rollout]
    judge = sum(r.selection.usage.requests for r in results if r.selection and r.selection is not old[r.instance_id].selection)
    strategy = results[0].strategy if results else ""
    typer.echo(f"{len(results)} tasks re-selected with {strategy}{label}; answer changed on {len(changed)}"
               + (f" ({', '.join(changed)})" if changed else "") + f"; {judge} judge requests")
    typer.echo("eval.jsonl written from the old candidate grades" if graded else f"not graded: run `codescale evaluate {out}`")
    typer.echo(f"run directory: {out}")
