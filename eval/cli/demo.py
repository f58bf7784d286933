"""`codescale demo`: the whole pipeline on the embedded local model, then the closing table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import (BaseImageOpt, ConfigOpt, LiveOpt, TrackOpt, check_tracker, command, examples, fail,
                                       say, track_run)

EXAMPLES = examples(
    "codescale demo",
    "codescale demo --task codescale__thermo-1 --n 4",
)


@command
def demo(
    model: Annotated[str, typer.Option("--model", help="Model id; local/<name> starts the embedded server.")] = "",
    task: Annotated[list[str], typer.Option("--task", help="Bundled task id (repeatable); default: the easy ones.")] = [],
    n: Annotated[Optional[int], typer.Option("--n", help="Rollouts per generation (default 2, configs/demo.yaml).")] = None,
    sandbox: Annotated[Optional[str], typer.Option("--sandbox", help="docker (the default; its base image is made when "
                                                   "missing) or local (NOT isolated: commands run on this machine).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default: ./codescale-demo/<time>).")] = None,
    config: ConfigOpt = [],
    live: LiveOpt = None,
    base_image: BaseImageOpt = None,
    track: TrackOpt = None,
) -> None:
    """Run PDR+RTV on a few easy bundled tasks with the embedded local model, grade, and print the table."""
    from rich.console import Console

    from codescale.agent.models.base import ModelError
    from codescale.agent.models.local.package import ModelPackageError
    from codescale.agent.models.local.server import LocalServerError
    from codescale.eval.analysis.demo_table import print_table
    from codescale.eval.runs.demo import run_demo

    check_tracker(track)
    try:
        made = run_demo(model=model, task_ids=task, n=n, sandbox=sandbox, out=out, config=config, live=live, say=say,
                        base_image=base_image)
    except (ModelPackageError, LocalServerError, ModelError) as e:
        raise fail(str(e), 1) from None
    print_table(Console(stderr=True), made.run_dir, made.grades, made.seconds, made.usage, made.sandbox, made.speed)
    sys.stderr.flush()
    track_run(made.run_dir.path, track)
    if made.outcome.failed:
        raise typer.Exit(1)
