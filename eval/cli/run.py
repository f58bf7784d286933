"""`codescale run`: solve one task into a run directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from codescale.eval.cli.common import (BaseUrlOpt, ConfigOpt, MaxCostOpt, MaxTaskCostOpt, ModelOpt, OverwriteOpt, RpmOpt,
                                       SandboxOpt, StrategyOpt, TpmOpt, caps, command, fail, flags, say, stopped)


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
    max_cost: MaxCostOpt = 0.0,
    max_task_cost: MaxTaskCostOpt = None,
    rpm: RpmOpt = 0,
    tpm: TpmOpt = 0,
) -> None:
    """Solve one task: run the strategy's rollouts and write the run directory (run.yaml, results.jsonl, ...).
    Exit 3 when --max-cost stopped it (the same command with a higher cap continues it)."""
    from codescale.eval.runs.budget import BudgetExhausted
    from codescale.eval.runs.config import ConfigError, load_config
    from codescale.eval.runs.progress import token_counts
    from codescale.eval.runs.outcomes import outcome, tally
    from codescale.eval.runs.rundir import RunDir
    from codescale.eval.runs.solve import run_task
    from codescale.eval.tasks.load import load_tasks

    tasks = load_tasks(task)
    if len(tasks) != 1:
        raise ConfigError(f"--task {task} holds {len(tasks)} tasks; `run` solves one (use `batch` for many)")
    resolved = load_config(config, flags(model=model, base_url=base_url, sandbox=sandbox, strategy=strategy,
                                         max_task_cost=max_task_cost), strategy=strategy)
    start = time.monotonic()
    try:
        result = run_task(tasks[0], resolved, out, overwrite=overwrite, source=task, **caps(max_cost, rpm, tpm))
    except BudgetExhausted as e:
        raise stopped(str(e)) from None
    usage = result.usage.total
    cost = f"${usage.cost_usd:.4f}" if usage.cost_usd is not None else "unknown (no price for this model)"
    status = result.exit_statuses.get(result.final_rollout or "", result.status)
    say(f"{result.instance_id}: {status}; patch {len(result.final_patch.splitlines())} lines; "
        f"{usage.requests} requests, {token_counts(usage)}, cost {cost}; "
        f"{time.monotonic() - start:.1f} s\nrun directory: {out}")
    if result.cap:
        say(f"{result.cap}: the task's later model calls were not made")
    if result.status == "error":
        say(f"error: {result.error}; run the same command again to retry it")
    say(tally([outcome(result, tasks[0], RunDir(out).files(result.instance_id))]))
    if result.status == "error":
        raise typer.Exit(1)
