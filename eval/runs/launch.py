"""A batch run from start to end: check the config, dataset and server, open or resume the run directory, clear
what a killed session left, run the tasks with a budget and progress, and say how it went."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codescale.eval.runs.batch import BatchConfig, BatchOutcome
from codescale.eval.runs.terminal import plain


def _stderr(line: str) -> None:
    print(plain(line), file=sys.stderr, flush=True)


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
                 live: bool | None, batch: dict, say: Callable[[str], None] = _stderr) -> BatchOutcome:
    """Run (or resume) the batch into `out`. Bad input raises before anything is written."""
    from codescale.agent.models.base import Model, ModelError
    from codescale.agent.records import Task
    from codescale.eval.runs.batch import run_batch
    from codescale.eval.runs.budget import Meter
    from codescale.eval.runs.config import ConfigError, load_config, run_warnings
    from codescale.eval.runs.interrupt import exit_on_interrupt
    from codescale.eval.runs.progress import make_progress, money
    from codescale.eval.runs.resume import finished, lock, open_run, remove_leftovers, repair
    from codescale.eval.runs.rundir import RunDir
    from codescale.eval.runs.solve import check_server
    from codescale.eval.tasks.dataset import load_rows, row_id, select

    settings = BatchConfig.model_validate(batch)
    resolved = load_config(config, flags, strategy=strategy)
    try:
        agent_model = Model(resolved.model)
    except (ValueError, ModelError) as e:
        raise ConfigError(str(e)) from None
    if resolved.model.base_url:
        check_server(resolved.model.base_url)
    rows = select(load_rows(dataset, split, base_image, settings.image_namespace), slice_, ids)
    if resolved.cluster.address and any(isinstance(r, Task) and r.outcome == "container" for r in rows):
        raise ConfigError("container tasks (graded by their end state) cannot run on a Ray cluster yet; "
                          "run them without --ray")
    if settings.budget.max_cost and agent_model.info.input is None:
        raise ConfigError(f"--max-cost needs a price for {resolved.model.id}; none in configs/models.yaml "
                          "(use --max-tokens)")
    run_dir = RunDir(out)
    lock(run_dir)
    config_dict = resolved.model_dump(mode="json")
    run_id, saved = open_run(run_dir, config_dict, overwrite)

    for old in {run_id, (saved or {}).get("run_id")} - {None}:
        removed = remove_leftovers(old)
        if removed:
            say(f"removed {removed} container(s) left by an earlier session of this run")
    repair(run_dir, resolved.model.id)
    sessions = (saved or {}).get("sessions", 0) + 1 if not overwrite else 1
    warnings = run_warnings(resolved)
    for warning in warnings:
        say(f"warning: {warning}")
    run_dir.write_config(
        config_dict, run_id, command="batch", dataset=dataset, split=split, slice=slice_, ids=ids,
        batch=settings.model_dump(mode="json"), sessions=sessions, **({"warnings": warnings} if warnings else {}),
        **({"created": saved["created"]} if saved and not overwrite else {}),
    )
    earlier = finished(run_dir, settings.retry_errors)
    todo = [row for row in rows if row_id(row) not in earlier]
    bad = sum(not isinstance(r, Task) for r in todo)
    say(f"run {run_id} in {out}: {len(rows)} tasks, {len(rows) - len(todo)} finished earlier, {len(todo)} to run, "
        f"{settings.workers} workers" + (f" (bad rows: {bad})" if bad else ""))
    cluster = join_cluster(resolved.cluster, run_id, settings, say) if resolved.cluster.address else None
    exit_on_interrupt(run_id, *([cluster.interrupt] if cluster else []))
    start = time.monotonic()
    try:
        with Meter(settings.budget, run_dir.ledger_path) as meter:
            with make_progress(len(rows), len(rows) - len(todo), lambda: meter.total, live) as progress:
                outcome = run_batch(todo, resolved, run_dir, run_id, settings, meter, progress, cluster=cluster)
            total = meter.total
    finally:
        if cluster:
            cluster.close()
    left = outcome.stopped + outcome.not_started
    line = (f"{outcome.done} done, {outcome.failed} failed, {left} left for a resume; spent {money(total)}, "
            f"{total.tokens} tokens over the whole run; {time.monotonic() - start:.1f} s")
    say((f"stopped by the budget ({outcome.stop_reason}); " if outcome.stop_reason else "") + line)
    if outcome.disk_full:
        say(f"error: {outcome.disk_full}; the batch stopped and nothing written is torn: free some space, then run "
            "the same command again to resume")
    return outcome
