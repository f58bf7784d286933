"""`codescale plan`: the rollouts, summaries, judge requests, tokens, container-hours and cost of a run, before it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import BaseUrlOpt, ConfigOpt, ModelOpt, StrategyOpt, command, flags


@command
def plan(
    tasks: Annotated[int, typer.Option("--tasks", help="How many tasks the run will solve (500 for SWE-bench Verified).")],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    strategy: StrategyOpt = None,
    config: ConfigOpt = [],
    from_run: Annotated[Optional[Path], typer.Option("--from-run", help="A finished run whose trajectories give the "
                                                     "step figures (else configs/plan.yaml's estimates).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """What a run of this configuration over --tasks tasks asks for: counts by construction, tokens and cost estimated."""
    from codescale.eval.runs.config import load_config
    from codescale.eval.runs.plan import from_run as measured
    from codescale.eval.runs.plan import lines
    from codescale.eval.runs.plan import plan as make_plan

    resolved = load_config(config, flags(model=model, base_url=base_url, strategy=strategy), strategy=strategy)
    found = make_plan(resolved, tasks, measured(from_run) if from_run else None)
    typer.echo(found.model_dump_json(indent=1) if as_json else "\n".join(lines(found)))
