"""`codescale select RUN_DIR --out NEW_RUN_DIR`: run only the final selection again over a run's saved rollouts.

The agent is not called: the new run directory holds hard links (or copies, across file systems) of the old
trajectories, summaries, task records and PDR context selections, and a new `selection.json` per task made
with the new settings (another strategy, vote count, judge, seed, ...). When the old run's candidates were
graded (`evaluate --all-candidates`), the new run's eval.jsonl is written from those grades, without grading.
With `--curves`, it writes the old run's selection curves instead (eval/curves.py).
"""

from __future__ import annotations

import copy
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Optional

import typer

from agent.records import write_atomic
from eval.config import ConfigError, RunConfig, apply_override, set_path
from eval.grading import TaskGrade
from eval.rundir import RunDir
from eval.saved_run import RecordError, SavedRun, parse
from scaling.population import Population
from scaling.records import Selection, TaskResult

SELECTORS = {"rtv": "rtv", "pdr+rtv": "rtv", "best_of_n": "random", "pdr": "random"}
"""Strategy name -> how its final selection is made."""


def select_config(run: SavedRun, strategy: str | None, overrides: list[str] = (), flags: dict | None = None) -> RunConfig:
    """The old run's resolved configuration with the strategy name, `-c` overrides and flags applied."""
    tree = copy.deepcopy(run.config.get("config") or {})
    if not tree:
        raise RecordError(f"{run.path}/run.yaml: field 'config' is missing")
    if strategy:
        set_path(tree, "scaling.strategy", strategy)
    for item in overrides:
        apply_override(tree, item)
    for key, value in (flags or {}).items():
        if value is not None:
            set_path(tree, key, value)
    config = parse(RunConfig, tree, f"{run.path}/run.yaml (with the overrides)")
    if config.scaling.strategy not in SELECTORS:
        raise ConfigError(f"select cannot re-select for strategy {config.scaling.strategy!r}; "
                          f"give --strategy, one of: {', '.join(SELECTORS)}")
    return config


def link(source: Path, target: Path) -> None:
    """`target` as a hard link of `source`, or a byte copy where links are not possible."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def final_pool(result: TaskResult, contexts: list[Selection]) -> list[str]:
    """The rollouts the final selection chose among, in the order the strategy gave them: the last generation,
    then (PDR with keep_survivors) the context winners that entered it."""
    last = list(result.rollouts[-1]) if result.rollouts else []
    entered = set(last)
    if result.selection is not None:
        entered = set(result.selection.candidates) | set(result.selection.dropped)
    pool = list(last)
    for selection in contexts:
        pool += [rid for rid in selection.winners if rid in entered and rid not in pool]
    return pool


def _no_rollouts(*_, **__):
    raise RuntimeError("select runs no rollouts")


def reselect_task(run: SavedRun, instance_id: str, config: RunConfig, out: RunDir) -> TaskResult:
    """The new result of one task; its files are linked into `out` and the new selection written there."""
    old = run.results[instance_id]
    source, target = run.task_dir(instance_id), out.task_dir(instance_id)
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name != "selection.json" and not path.name.startswith("."):
            link(path, target / path.name)
    if old.status == "error" or not old.rollouts:
        return old
    task = run.task(instance_id)
    if task is None:
        raise RecordError(f"{source}/task.json: missing (needed by the judge)")
    contexts = [s for s in run.selections(instance_id) if s.stage != "final"]
    population = Population(config.scaling, task, rollout=_no_rollouts, model=config.model, task_dir=target)
    population.generations = [list(ids) for ids in old.rollouts]
    for rollout_id in (rid for ids in old.rollouts for rid in ids):
        traj = run.trajectory(instance_id, rollout_id)
        if traj is None:
            raise RecordError(f"{source}/{rollout_id}.traj.json: missing")
        population.trajectories[rollout_id] = traj
        summary = run.summary(instance_id, rollout_id)
        if summary is not None:
            population.summaries[rollout_id] = summary
    population.selections = list(contexts)  # their judge usage stays part of this answer's cost
    pool = final_pool(old, contexts)
    if SELECTORS[config.scaling.strategy] == "rtv":
        final = population.select_rtv(pool, stop_at=config.scaling.rtv.stop_at)
    else:
        final = population.select_random(pool)
    result = population.result(config.scaling.strategy, final)
    result.seconds += old.seconds  # the rollouts' time is part of this answer's; the old selection's is kept too
    return result


def reused_grades(run: SavedRun, results: list[TaskResult]) -> list[TaskGrade] | None:
    """eval.jsonl lines for the new results from the old candidate grades; None when some answer was not graded."""
    rows = []
    for result in results:
        old = run.grades.get(result.instance_id)
        if old is None:
            return None
        if result.final_rollout == old.final_rollout:
            rows.append(old)
            continue
        found = {c.rollout_id: c for c in old.candidates}.get(result.final_rollout or "")
        if found is None:
            return None
        grade = TaskGrade(instance_id=result.instance_id, final_rollout=result.final_rollout, resolved=found.resolved,
                          failed_tests=found.failed_tests, error=found.error, candidates=old.candidates,
                          passed=old.passed, total=old.total)
        rows.append(grade)
    return rows


def reselect(source: Path, out: Path, config: RunConfig, workers: int = 4) -> tuple[list[TaskResult], bool]:
    """Re-select every task of the run at `source` into a new run directory `out`; (results, grades reused)."""
    run = SavedRun(source)
    target = RunDir(out)
    if target.results_path.exists():
        raise ConfigError(f"{out} already holds results; choose a new --out")
    target.path.mkdir(parents=True, exist_ok=True)
    target.write_config(config.model_dump(mode="json"), uuid.uuid4().hex[:12], command="select",
                        source=str(run.path), source_run_id=run.config.get("run_id", ""))
    ids = list(run.results)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(lambda i: reselect_task(run, i, config, target), ids))
    for result in results:
        target.append_result(result, model_name=config.model.id)
    grades = reused_grades(run, results) if run.grades else None
    if grades is not None:
        write_atomic(target.path / "eval.jsonl", "".join(g.model_dump_json() + "\n" for g in grades))
    return results, grades is not None


def select_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.", exists=True, file_okay=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="The new run directory to write.")] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", help=f"Final selection: {', '.join(SELECTORS)}.")] = None,
    config: Annotated[list[str], typer.Option("-c", "--config", help="A YAML file or key.path=value override of the run's config.")] = [],
    model: Annotated[Optional[str], typer.Option("--model", help="Model id of the judge (and summarizer), if not the run's.")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="Server URL of that model.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Tasks re-selected at a time.")] = 4,
    curves: Annotated[bool, typer.Option("--curves", help="Write RUN_DIR/curves.json: resolved rate vs N per selection method.")] = False,
    ns: Annotated[Optional[str], typer.Option("--n", help="Comma-separated N for --curves (default: powers of two up to the pool).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Subsamples per N for --curves.")] = 5,
    methods: Annotated[str, typer.Option("--methods", help="Selection methods for --curves: random, rtv.")] = "random,rtv",
):
    """Re-run only the selection over a run's saved rollouts (judge calls, no agent), or compute selection curves."""
    from eval.curves import print_curves, selection_curves

    start = time.monotonic()
    try:
        run = SavedRun(run_dir)
        resolved = select_config(run, strategy, config, {"model.id": model, "model.base_url": base_url})
        if curves:
            sizes = [int(x) for x in ns.split(",")] if ns else None
            made = selection_curves(run, resolved, methods.split(","), sizes, seeds)
            write_atomic(run.path / "curves.json", made.model_dump_json(indent=1))
            print_curves(made)
            typer.echo(f"wrote {run.path / 'curves.json'}")
            return
        if out is None:
            raise ConfigError("--out NEW_RUN_DIR is needed (or --curves)")
        results, graded = reselect(run_dir, out, resolved, workers)
    except (ValueError, RecordError) as e:  # ConfigError is a ValueError
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    old = run.results
    changed = [r.instance_id for r in results if r.final_rollout != old[r.instance_id].final_rollout]
    judge = sum(r.selection.usage.requests for r in results if r.selection and r.selection is not old[r.instance_id].selection)
    typer.echo(f"{len(results)} tasks re-selected with {resolved.scaling.strategy}; answer changed on {len(changed)}"
               + (f" ({', '.join(changed)})" if changed else "") + f"; {judge} judge requests; "
               f"{time.monotonic() - start:.1f} s")
    typer.echo("eval.jsonl written from the old candidate grades" if graded else
               f"not graded: run `codescale evaluate {out}`")
    typer.echo(f"run directory: {out}")
