"""`codescale run`: solve one task into a run directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from codescale.eval.cli.common import (BaseUrlOpt, ConfigOpt, ModelOpt, OverwriteOpt, SandboxOpt, StrategyOpt, command,
                                       flags, say)


@command
def run(
    task: Annotated[str, typer.Option("--task", help="A task file (JSON, one Task record), a bundled task id, or a Harbor (Terminal-Bench 2) task directory.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    sandbox: SandboxOpt = None,
    strategy: StrategyOpt = None,
    config: ConfigOpt = [],
    overwrite: OverwriteOpt = False,
) -> None:
    """Solve one task: run the strategy's rollouts and write the run directory (run.yaml, results.jsonl, ...)."""
    from codescale.eval.runs.config import ConfigError, load_config
    from codescale.eval.runs.outcomes import outcome, tally
    from codescale.eval.runs.rundir import RunDir
    from codescale.eval.runs.solve import run_task
    from codescale.eval.tasks.load import load_tasks

    tasks = load_tasks(task)
    if len(tasks) != 1:
        raise ConfigError(f"--task {task} holds {len(tasks)} tasks; `run` solves one (use `batch` for many)")
    resolved = load_config(config, flags(model=model, base_url=base_url, sandbox=sandbox, strategy=strategy),
                           strategy=strategy)
    start = time.monotonic()
    result = run_task(tasks[0], resolved, out, overwrite=overwrite, source=task)
    usage = result.usage.total
    cost = f"${usage.cost_usd:.4f}" if usage.cost_usd is not None else "unknown (no price for this model)"
    status = result.exit_statuses.get(result.final_rollout or "", result.status)
    say(f"{result.instance_id}: {status}; patch {len(result.final_patch.splitlines())} lines; "
        f"{usage.requests} requests, {usage.input_tokens} in / {usage.output_tokens} out tokens, cost {cost}; "
        f"{time.monotonic() - start:.1f} s\nrun directory: {out}")
    if result.status == "error":
        say(f"error: {result.error}; run the same command again to retry it")
    say(tally([outcome(result, tasks[0], RunDir(out).files(result.instance_id))]))
    if result.status == "error":
        raise typer.Exit(1)
