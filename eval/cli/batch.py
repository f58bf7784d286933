"""`codescale batch` (any SWE-format dataset) and `codescale swebench` (SWE-bench Verified by default).

Exit codes: 0 every selected task finished; 1 some task failed (a task error, or every rollout of it ended in a model
or sandbox error; rerunning retries it); 2 nothing ran (bad arguments, configuration, dataset, server or run
directory); 3 the budget stopped the run with work left (rerun to resume); 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import (BaseImageOpt, BaseUrlOpt, ConfigOpt, LiveOpt, MaxCostOpt, MaxTaskCostOpt,
                                       ModelOpt, RpmOpt, SandboxOpt, StrategyOpt, TpmOpt, caps, command, fail, flags)
from codescale.eval.tasks.swebench import NAMESPACE, VERIFIED

Opt = typer.Option


def _command(default_dataset: str | None, doc: str, needs_harness: bool = False):
    def batch(
        out: Annotated[Path, Opt("--out", help="Run directory: written, or resumed when it holds this run.")],
        dataset: Annotated[Optional[str], Opt("--dataset", help="Hugging Face dataset name, a .json/.jsonl/.parquet "
                                              "file, a bundled suite name or task id, or a folder of Harbor "
                                              "(Terminal-Bench 2) task directories.")] = default_dataset,
        split: Annotated[str, Opt("--split", help="Dataset split (Hugging Face datasets).")] = "test",
        slice_: Annotated[Optional[str], Opt("--slice", help="Rows START:STOP of the dataset, e.g. 0:50.")] = None,
        ids: Annotated[Optional[str], Opt("--ids", help="Comma-separated instance ids to run.")] = None,
        model: ModelOpt = None,
        base_url: BaseUrlOpt = None,
        sandbox: SandboxOpt = None,
        strategy: StrategyOpt = None,
        config: ConfigOpt = [],
        workers: Annotated[int, Opt("--workers", help="Tasks in flight at once.")] = 1,
        max_rollouts: Annotated[int, Opt("--max-rollouts", help="Rollouts in flight over all tasks (0: "
                                         "workers x scaling.concurrency).")] = 0,
        max_requests: Annotated[int, Opt("--max-requests", help="Model requests in flight (0: no cap).")] = 0,
        max_cost: MaxCostOpt = 0.0,
        max_tokens: Annotated[int, Opt("--max-tokens", help="Token budget of the whole run (0: none).")] = 0,
        max_task_cost: MaxTaskCostOpt = None,
        rpm: RpmOpt = 0,
        tpm: TpmOpt = 0,
        retry_errors: Annotated[bool, Opt("--retry-errors", help="Run again every failed task and every rollout "
                                          "that ended in a model or sandbox error, however often they ran.")] = False,
        keep_errors: Annotated[bool, Opt("--keep-errors", help="Count failed tasks as finished: a rerun does not "
                                         "retry them (by default it does, until each ran 3 times).")] = False,
        overwrite: Annotated[bool, Opt("--overwrite", help="Discard the run in --out and start over.")] = False,
        base_image: BaseImageOpt = None,
        image_namespace: Annotated[str, Opt("--image-namespace", help="Namespace of SWE-bench images.")] = NAMESPACE,
        live: LiveOpt = None,
        ray: Annotated[Optional[str], Opt("--ray", help="Run the rollouts on a Ray cluster: 'auto' (the one this "
                                          "machine joined) or the head's HOST:PORT (config key cluster.address).")] = None,
        image_cache_gb: Annotated[float, Opt("--image-cache-gb", help="Most GB of task images kept per Docker engine "
                                             "besides those in use; least recently used go first (0: no bound).")] = 0.0,
        pull_ahead: Annotated[int, Opt("--pull-ahead", help="Images of the next tasks made present while the "
                                       "current ones run.")] = 2,
        remove_images: Annotated[bool, Opt("--remove-images", help="Remove a task's image once it is finished.")] = False,
    ) -> None:
        from codescale.eval.runs.launch import launch_batch
        from codescale.eval.tasks.grading import require_harness

        if needs_harness:
            require_harness("codescale swebench")
        if not dataset:
            raise fail("--dataset is required")
        outcome = launch_batch(
            dataset=dataset, split=split, slice_=slice_, ids=[i.strip() for i in ids.split(",") if i.strip()] if ids else None,
            flags=flags(model=model, base_url=base_url, sandbox=sandbox, strategy=strategy, ray=ray,
                        max_task_cost=max_task_cost),
            strategy=strategy, config=config, out=out, overwrite=overwrite, base_image=base_image, live=live,
            batch={"workers": workers, "max_rollouts": max_rollouts, "max_requests": max_requests,
                   **caps(max_cost, rpm, tpm, max_tokens), "retry_errors": retry_errors,
                   "keep_errors": keep_errors,
                   "image_namespace": image_namespace, "image_cache_gb": image_cache_gb, "pull_ahead": pull_ahead,
                   "remove_images": remove_images},
        )
        code = 1 if outcome.disk_full else 3 if outcome.stopped + outcome.not_started else 1 if outcome.failed_in_run else 0
        if code:
            raise typer.Exit(code)

    batch.__doc__ = doc
    return command(batch)


batch_cmd = _command(None, "Run a strategy over a SWE-format or Terminal-Bench dataset: parallel, resumable (rerun the same command), budgeted.")
swebench_cmd = _command(VERIFIED, f"`batch` over SWE-bench Verified ({VERIFIED}) unless --dataset says otherwise.",
                        needs_harness=True)
