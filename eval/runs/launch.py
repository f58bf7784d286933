"""A batch run from start to end: check the config, dataset and server, open or resume the run directory, clear
what a killed session left, run the tasks with a budget and progress, and say how it went."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codescale.eval.runs.batch import BatchConfig, BatchOutcome
from codescale.eval.runs.outcomes import outcome, tally
from codescale.eval.runs.terminal import stderr


def join_cluster(config, run_id: str, settings: BatchConfig, say: Callable[[str], None]):
    """The Ray cluster of `config` joined, with what a killed session left on its nodes removed."""
    from codescale.eval.runs.cluster import Cluster, ClusterError
    from codescale.eval.runs.config import ConfigError
    from codescale.eval.tasks.image_cache import ImageStats

    try:
        cluster = Cluster(config, run_id, settings.images(), ImageStats()).connect()
    except ClusterError as e:
        raise ConfigError(str(e)) from None
    removed = cluster.sweep()
    say(f"Ray cluster {config.address}: {len(cluster.docker_nodes())} node(s) with {config.resource!r}, "
        f"{cluster.slots()} rollout slots" + (f"; removed {removed} container(s) left on its nodes" if removed else ""))
    return cluster


def launch_batch(*, dataset: str, split: str, slice_: str | None, ids: list[str] | None, flags: dict[str, Any],
                 strategy: str | None, config: list[str], out: Path, overwrite: bool, base_image: str | None,
                 live: bool | None, batch: dict, say: Callable[[str], None] = stderr) -> BatchOutcome:
    """Run (or resume) the batch into `out`. Bad input raises before anything is written."""
    from codescale.agent.records import Task
    from codescale.eval.runs.batch import run_batch
    from codescale.eval.runs.budget import limited
    from codescale.eval.runs.opening import open_run
    from codescale.eval.runs.progress import make_progress
    from codescale.eval.tasks.dataset import row_id

    settings = BatchConfig.model_validate(batch)
    resolved, model, rows = checked_input(dataset, split, slice_, ids, flags, strategy, config, base_image, settings)
    run = open_run(out, resolved, command="batch", overwrite=overwrite, resume=True, retry_errors=settings.retry_errors,
                   keep_errors=settings.keep_errors, say=say, model=model, batch=settings.model_dump(mode="json"),
                   dataset=dataset, split=split, slice=slice_, ids=ids)
    todo = [row for row in rows if row_id(row) not in run.finished]
    retried = {row_id(row) for row in todo if row_id(row) in run.dir.results()}
    bad = sum(not isinstance(r, Task) for r in todo)
    say(f"run {run.run_id} in {out}: {len(rows)} tasks, {len(rows) - len(todo)} finished earlier, {len(todo)} to run"
        + (f" ({len(retried)} failed earlier, retried)" if retried else "")
        + f", {settings.workers} workers" + (f" (bad rows: {bad})" if bad else ""))
    cluster = join_cluster(resolved.cluster, run.run_id, settings, say) if resolved.cluster.address else None
    if cluster:
        run.interrupt.add(cluster.interrupt)
    start = time.monotonic()
    try:
        with limited(settings.budget, run.dir.ledger_path, rates=settings.rates,
                     max_requests=settings.max_requests) as meter:
            with make_progress(len(rows), len(rows) - len(todo), lambda: meter.total, live) as progress:
                outcome = run_batch(todo, resolved, run.dir, run.run_id, settings, meter, progress, cluster=cluster,
                                    retried=retried)
            total = meter.total
    finally:
        if cluster:
            cluster.close()
    outcome.tally, outcome.failed_in_run = run_tally(run.dir, rows)
    say_outcome(outcome, total, time.monotonic() - start, say)
    return outcome


def run_tally(run_dir, rows) -> tuple[str, int]:
    """The selected rows by outcome over the whole run (a task without a result is left for a resume), and how many
    failed."""
    from codescale.agent.records import Task
    from codescale.eval.tasks.dataset import row_id
    from codescale.eval.tasks.kinds import as_kind

    results = run_dir.results()
    found = [(row, results[row_id(row)]) for row in rows if row_id(row) in results]
    outcomes = [outcome(result, as_kind(row) if isinstance(row, Task) else None, run_dir.files(result.instance_id))
                for row, result in found]
    return tally(outcomes, left=len(rows) - len(found)), sum(o.startswith("failed") for o in outcomes)


def checked_input(dataset: str, split: str, slice_: str | None, ids: list[str] | None, flags: dict[str, Any],
                  strategy: str | None, config: list[str], base_image: str | None, settings: BatchConfig):
    """(the run's config, the agent's model, the dataset's rows), once the model, its server and the rows are known
    to work together; ConfigError (or a dataset error) otherwise."""
    from codescale.agent.records import Task
    from codescale.eval.runs.budget import require_prices
    from codescale.eval.runs.config import load_config
    from codescale.eval.runs.opening import check_model
    from codescale.eval.runs.solve import tightens_only
    from codescale.eval.tasks.dataset import load_rows, select

    resolved = load_config(config, flags, strategy=strategy)
    model = check_model(resolved)
    require_prices(resolved, settings.budget)
    rows = select(load_rows(dataset, split, base_image, settings.image_namespace), slice_, ids)
    for row in rows:
        if isinstance(row, Task):
            tightens_only(row, resolved)
    return resolved, model, rows


def say_outcome(outcome: BatchOutcome, total, seconds: float, say: Callable[[str], None]) -> None:
    """The batch's last lines: the run's tasks by outcome (failed by cause, left for a resume), what it spent, and a
    full disk if that stopped it."""
    from codescale.eval.runs.progress import money

    capped = f" ({outcome.capped} stopped at their task cost cap)" if outcome.capped else ""
    line = (f"{outcome.tally}{capped}; spent {money(total)}, {total.tokens} tokens ({total.cached_input_tokens} input "
            f"from the cache) over the whole run; {seconds:.1f} s")
    say((f"stopped by the budget ({outcome.stop_reason}); " if outcome.stop_reason else "") + line)
    if outcome.disk_full:
        say(f"error: {outcome.disk_full}; the batch stopped and nothing written is torn: free some space, then run "
            "the same command again to resume")
