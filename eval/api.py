"""codescale from Python: the functions behind the commands, under one name (docs/API.md shows each in use).

    from codescale.eval import api

    result = api.run("codescale__thermo-1", "runs/one", model="openai/gpt-5-mini", strategy="rtv")
    grades = api.evaluate("runs/one", all_candidates=True)

Where a command only parses and calls, its function is re-exported as it is (`load_tasks`, `evaluate`, `compare`);
where the command resolved a configuration first, a thin wrapper takes what the command takes, under the same names:
`-c` items as positional strings (YAML files, a run's run.yaml, `key.path=value`), the flags as keywords (`model`,
`base_url`, `sandbox`, `strategy`, ...). Runs write the same run directories as the commands.
"""

from __future__ import annotations

from pathlib import Path

from codescale.agent.records import Task, Trajectory
from codescale.eval.analysis.compare import Comparison, compare
from codescale.eval.analysis.metrics import Metrics
from codescale.eval.analysis.metrics import compute as metrics
from codescale.eval.runs.batch import BatchOutcome
from codescale.eval.runs.budget import BudgetExhausted
from codescale.eval.runs.config import ConfigError, RunConfig, flags, load_config
from codescale.eval.runs.evaluate import evaluate
from codescale.eval.runs.rundir import RunDir
from codescale.eval.tasks.grading import TaskGrade
from codescale.eval.tasks.load import load_tasks
from codescale.scaling.records import Summary, TaskResult

__all__ = ["BatchOutcome", "BudgetExhausted", "Comparison", "Metrics", "RunConfig", "RunDir", "Summary", "Task",
           "TaskGrade", "TaskResult", "Trajectory", "batch", "compare", "config", "evaluate", "load_tasks", "metrics",
           "read_run", "run", "select"]


def config(*overrides: str, model: str | None = None, base_url: str | None = None, sandbox: str | None = None,
           strategy: str | None = None, max_task_cost: float | None = None) -> RunConfig:
    """The configuration a run would use, resolved as every command resolves it: the defaults, the strategy's preset,
    `overrides` in order, then the keywords given."""
    return load_config(list(overrides), flags(model=model, base_url=base_url, sandbox=sandbox, strategy=strategy,
                                              max_task_cost=max_task_cost))


def run(task: Task | str, out: str | Path, *overrides: str, model: str | None = None, base_url: str | None = None,
        sandbox: str | None = None, strategy: str | None = None, base_image: str | None = None,
        overwrite: bool = False, live: bool | None = None, max_cost: float = 0.0, max_task_cost: float | None = None,
        rpm: int = 0, tpm: int = 0) -> TaskResult | None:
    """`codescale run`: solve one task (a Task, a bundled task id, a task file or a Harbor task directory) into the run
    directory `out`; its TaskResult (None when a full disk stopped it). A `max_cost` reached raises BudgetExhausted
    (the same call with a higher cap continues it)."""
    from codescale.agent.models.rates import RateConfig
    from codescale.eval.runs.budget import BudgetConfig
    from codescale.eval.runs.launch import run_task

    found = [task] if isinstance(task, Task) else load_tasks(task, base_image=base_image)
    if len(found) != 1:
        raise ConfigError(f"{task} holds {len(found)} tasks; `run` solves one (use `batch` for many)")
    resolved = config(*overrides, model=model, base_url=base_url, sandbox=sandbox, strategy=strategy,
                      max_task_cost=max_task_cost)
    return run_task(found[0], resolved, Path(out), overwrite=overwrite, source=str(task) if isinstance(task, str) else "",
                    live=live, budget=BudgetConfig(max_cost=max_cost), rates=RateConfig(rpm=rpm, tpm=tpm))


def batch(dataset: str, out: str | Path, *overrides: str, model: str | None = None, base_url: str | None = None,
          sandbox: str | None = None, strategy: str | None = None, ray: str | None = None, ids: list[str] | None = None,
          slice: str | None = None, split: str = "test", base_image: str | None = None, overwrite: bool = False,
          live: bool | None = None, max_task_cost: float | None = None, **settings) -> BatchOutcome:
    """`codescale batch`: run (or resume) a dataset into `out`. `settings` are the batch's (eval.runs.batch.BatchConfig:
    workers, max_rollouts, max_requests, budget, rates, retry_errors, keep_errors, image_cache_gb, pull_ahead,
    remove_images, ...)."""
    from codescale.eval.runs.launch import launch_batch

    return launch_batch(dataset=dataset, split=split, slice_=slice, ids=ids, config=list(overrides), out=Path(out),
                        flags=flags(model=model, base_url=base_url, sandbox=sandbox, strategy=strategy, ray=ray,
                                    max_task_cost=max_task_cost),
                        overwrite=overwrite, base_image=base_image, live=live, batch=settings)


def select(run_dir: str | Path, out: str | Path, *overrides: str, strategy: str | None = None,
           model: str | None = None, base_url: str | None = None, workers: int = 4) -> list[TaskResult]:
    """`codescale select`: the final selection made again over the saved rollouts of `run_dir` (the run's configuration
    with `overrides` and the keywords over it), into the new run directory `out`; the new results."""
    from codescale.eval.analysis.select import reselect, select_config

    resolved = select_config(RunDir.existing(Path(run_dir)), strategy, list(overrides),
                             flags(model=model, base_url=base_url))
    return reselect(Path(run_dir), Path(out), resolved, workers)[0]


def read_run(path: str | Path) -> RunDir:
    """A finished (or running) run directory to read: `results()`, `grades()`, `trajectory(task, rollout)`,
    `summary(...)`, `selections(task)`, `config()`."""
    return RunDir.existing(Path(path))
