"""`codescale select RUN_DIR --out NEW_RUN_DIR`: the final selection again over a run's saved rollouts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.analysis.select import SELECTORS
from codescale.eval.cli.common import BaseUrlOpt, ConfigOpt, RunDirArg, command, fail, flags


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
) -> None:
    """Re-run only the selection over a run's saved rollouts (judge calls, no agent), or compute selection curves."""
    from codescale.agent.records import write_atomic
    from codescale.eval.analysis.curves import print_curves, selection_curves
    from codescale.eval.analysis.select import reselect, select_config
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
    results, graded = reselect(run_dir, out, resolved, workers)
    changed = [r.instance_id for r in results if r.final_rollout != old[r.instance_id].final_rollout]
    judge = sum(r.selection.usage.requests for r in results if r.selection and r.selection is not old[r.instance_id].selection)
    typer.echo(f"{len(results)} tasks re-selected with {resolved.scaling.strategy}; answer changed on {len(changed)}"
               + (f" ({', '.join(changed)})" if changed else "") + f"; {judge} judge requests; "
               f"{time.monotonic() - start:.1f} s")
    typer.echo("eval.jsonl written from the old candidate grades" if graded else
               f"not graded: run `codescale evaluate {out}`")
    typer.echo(f"run directory: {out}")
