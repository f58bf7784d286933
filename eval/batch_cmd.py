"""`codescale batch` (any SWE-format dataset) and `codescale swebench` (SWE-bench Verified by default).

Exit codes: 0 every selected task finished; 1 some task failed; 2 nothing ran (bad arguments, configuration,
dataset, server or run directory); 3 the budget stopped the run with work left (rerun to resume); 130 interrupted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from eval.swebench import NAMESPACE, VERIFIED

Opt = typer.Option


def _command(default_dataset: str | None, doc: str):
    def command(
        out: Annotated[Path, Opt("--out", help="Run directory: written, or resumed when it holds this run.")],
        dataset: Annotated[Optional[str], Opt("--dataset", help="Hugging Face dataset name, a .json/.jsonl/.parquet "
                                              "file, or a bundled suite name or task id.")] = default_dataset,
        split: Annotated[str, Opt("--split", help="Dataset split (Hugging Face datasets).")] = "test",
        slice_: Annotated[Optional[str], Opt("--slice", help="Rows START:STOP of the dataset, e.g. 0:50.")] = None,
        ids: Annotated[Optional[str], Opt("--ids", help="Comma-separated instance ids to run.")] = None,
        model: Annotated[Optional[str], Opt("--model", help="Model id BACKEND/NAME.")] = None,
        base_url: Annotated[Optional[str], Opt("--base-url", help="Server URL for OpenAI-compatible servers.")] = None,
        sandbox: Annotated[Optional[str], Opt("--sandbox", help="docker or local (NOT isolated).")] = None,
        strategy: Annotated[Optional[str], Opt("--strategy", help="single, best_of_n, rtv, pdr or pdr+rtv.")] = None,
        config: Annotated[list[str], Opt("-c", "--config", help="A YAML file or key.path=value override.")] = [],
        workers: Annotated[int, Opt("--workers", help="Tasks in flight at once.")] = 1,
        max_rollouts: Annotated[int, Opt("--max-rollouts", help="Rollouts in flight over all tasks (0: "
                                         "workers x scaling.concurrency).")] = 0,
        max_requests: Annotated[int, Opt("--max-requests", help="Model requests in flight (0: no cap).")] = 0,
        max_cost: Annotated[float, Opt("--max-cost", help="USD budget of the whole run (0: none).")] = 0.0,
        max_tokens: Annotated[int, Opt("--max-tokens", help="Token budget of the whole run (0: none).")] = 0,
        retry_errors: Annotated[bool, Opt("--retry-errors", help="Run again tasks recorded as errors.")] = False,
        overwrite: Annotated[bool, Opt("--overwrite", help="Discard the run in --out and start over.")] = False,
        base_image: Annotated[Optional[str], Opt("--base-image", help="Base image of bundled task images.")] = None,
        image_namespace: Annotated[str, Opt("--image-namespace", help="Namespace of SWE-bench images.")] = NAMESPACE,
        live: Annotated[Optional[bool], Opt("--live/--no-live", help="Live display (default: when stderr is a "
                                            "terminal) or one line per event.")] = None,
    ) -> None:
        if not dataset:
            raise _fail("--dataset is required")
        run_batch_command(
            dataset=dataset, split=split, slice_=slice_, ids=[i.strip() for i in ids.split(",") if i.strip()] if ids else None,
            flags={"model.id": model, "model.base_url": base_url, "sandbox.kind": sandbox, "scaling.strategy": strategy},
            strategy=strategy, config=config, out=out, overwrite=overwrite, base_image=base_image, live=live,
            batch={"workers": workers, "max_rollouts": max_rollouts, "max_requests": max_requests,
                   "budget": {"max_cost": max_cost, "max_tokens": max_tokens}, "retry_errors": retry_errors,
                   "image_namespace": image_namespace},
        )

    command.__doc__ = doc
    return command


batch_cmd = _command(None, "Run a strategy over a SWE-format dataset: parallel, resumable (rerun the same command), budgeted.")
swebench_cmd = _command(VERIFIED, f"`batch` over SWE-bench Verified ({VERIFIED}) unless --dataset says otherwise.")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def run_batch_command(*, dataset, split, slice_, ids, flags, strategy, config, out, overwrite, base_image, live,
                      batch) -> None:
    from agent.models.base import Model, ModelError
    from agent.records import Task
    from eval.batch import BatchConfig, run_batch
    from eval.budget import Meter
    from eval.cli import exit_on_interrupt
    from eval.config import load_config
    from eval.dataset import load_rows, row_id, select
    from eval.progress import make_progress, money
    from eval.resume import finished, lock, open_run, remove_leftovers, repair
    from eval.run import PreflightError, check_server
    from eval.rundir import RunDir

    try:
        settings = BatchConfig.model_validate(batch)
        resolved = load_config(config, flags, strategy=strategy)
        agent_model = Model(resolved.model)
        if resolved.model.base_url:
            check_server(resolved.model.base_url)
        rows = select(load_rows(dataset, split, base_image, settings.image_namespace), slice_, ids)
        if settings.budget.max_cost and agent_model.info.input is None:
            raise ValueError(f"--max-cost needs a price for {resolved.model.id}; none in configs/models.yaml "
                             "(use --max-tokens)")
        run_dir = RunDir(out)
        lock(run_dir)
        config_dict = resolved.model_dump(mode="json")
        run_id, saved = open_run(run_dir, config_dict, overwrite)
    except (ValueError, ModelError, PreflightError) as e:  # ConfigError, TaskError, ResumeError are ValueErrors
        raise _fail(str(e)) from None
    for old in {run_id, (saved or {}).get("run_id")} - {None}:
        removed = remove_leftovers(old)
        if removed:
            typer.echo(f"removed {removed} container(s) left by an earlier session of this run", err=True)
    repair(run_dir, resolved.model.id)
    sessions = (saved or {}).get("sessions", 0) + 1 if not overwrite else 1
    run_dir.write_config(
        config_dict, run_id, command="batch", dataset=dataset, split=split, slice=slice_, ids=ids,
        batch=settings.model_dump(mode="json"), sessions=sessions,
        **({"created": saved["created"]} if saved and not overwrite else {}),
    )
    earlier = finished(run_dir, settings.retry_errors)
    todo = [row for row in rows if row_id(row) not in earlier]
    typer.echo(
        f"run {run_id} in {out}: {len(rows)} tasks, {len(rows) - len(todo)} finished earlier, {len(todo)} to run, "
        f"{settings.workers} workers" + (f" (bad rows: {sum(not isinstance(r, Task) for r in todo)})"
                                         if any(not isinstance(r, Task) for r in todo) else ""), err=True,
    )
    exit_on_interrupt(run_id)
    start = time.monotonic()
    with Meter(settings.budget, run_dir.ledger_path) as meter:
        with make_progress(len(rows), len(rows) - len(todo), lambda: meter.total, live) as progress:
            outcome = run_batch(todo, resolved, run_dir, run_id, settings, meter, progress)
        total = meter.total
    left = outcome.stopped + outcome.not_started
    line = (f"{outcome.done} done, {outcome.failed} failed, {left} left for a resume; spent {money(total)}, "
            f"{total.tokens} tokens over the whole run; {time.monotonic() - start:.1f} s")
    if outcome.stop_reason:
        line = f"stopped by the budget ({outcome.stop_reason}); " + line
    typer.echo(line, err=True)
    sys.stderr.flush()
    code = 3 if left else 1 if outcome.failed else 0
    if code:
        raise typer.Exit(code)
