"""Experiment tracking (optional, the `track` extra): a run directory's configuration, per-task outcomes and, once
graded, its `compare` figures, logged to an MLflow tracking store.

One MLflow run per codescale run, found again by the tag `codescale.run_id`: `codescale run|batch --track mlflow`
logs a run when it ends, `codescale evaluate --track mlflow` adds the grades and figures to the same MLflow run. The
store is MLflow's own choice: $MLFLOW_TRACKING_URI (a local one needs no server: `sqlite:///mlflow.db`, or a folder,
`file:///path/mlruns`, which MLflow 3 takes with MLFLOW_ALLOW_FILE_STORE=true), else MLflow's default; the experiment
$MLFLOW_EXPERIMENT_NAME, else `codescale`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from codescale.eval.runs.rundir import RunDir
from codescale.eval.tasks.extras import require

TRACKERS = ("mlflow",)
"""What `--track` takes."""
RUN_TAG = "codescale.run_id"
PARAM_CHARS = 500
"""Longer config values (the prompt templates) stay out of the params; the whole config is logged as run.yaml."""


def flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`."""
    found: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            found.update(flat(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def outcomes(run: RunDir) -> list[dict]:
    """One row per task: how it ended and, where graded, whether it was resolved."""
    grades = run.grades() if run.grades_path.is_file() else {}
    rows = []
    for instance_id, result in run.results().items():
        grade = grades.get(instance_id)
        rows.append({
            "instance_id": instance_id, "status": result.status, "final_rollout": result.final_rollout,
            "exit_status": result.exit_statuses.get(result.final_rollout or "", ""), "error": result.error,
            "rollouts": sum(len(ids) for ids in result.rollouts), "tokens": result.usage.total.tokens,
            "cost_usd": result.usage.total.cost_usd, "seconds": result.seconds,
            "resolved": grade.resolved if grade else None,
            "rollouts_resolved": grade.passed if grade else None,
        })
    return rows


def figures(run: RunDir) -> dict[str, float]:
    """The run's `compare` figures as metrics (resolved rate, pass@1, oracle, judge accuracy, cost and tokens by phase,
    steps, wall time); empty until the run is graded."""
    from codescale.eval.analysis.compare import compare

    if not run.grades_path.is_file():
        return {}
    row = compare([run.path]).runs[0]
    found = {"resolved": row.resolved.value, "rollouts_per_task": row.rollouts_per_task,
             "seconds_per_task": row.seconds_per_task, "errors": row.errors}
    for name in ("pass_at_1", "oracle"):
        if (interval := getattr(row, name)) is not None:
            found[name] = interval.value
    if row.mean_steps is not None:
        found["mean_steps"] = row.mean_steps
    for phase, cost in row.phases.items():
        for field, value in cost.model_dump().items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found[f"{phase}.{field}"] = value
    for stage, accuracy in (row.figures.judge_accuracy if row.figures else {}).items():
        if accuracy is not None:
            found[f"judge_accuracy.{stage}"] = accuracy.value
    return found


class TrackingError(RuntimeError):
    """The tracker refused the run (its store unreachable or refusing); the message is the tracker's."""


def check_tracker(tracker: str | None) -> None:
    """ConfigError for an unknown tracker, MissingExtraError when its library is not installed: said before a run
    starts, not when it ends."""
    from codescale.eval.runs.config import ConfigError

    if tracker is None:
        return
    if tracker not in TRACKERS:
        raise ConfigError(f"--track {tracker}: unknown tracker; known: {', '.join(TRACKERS)}")
    require("mlflow", "track", "--track mlflow")


def track(run_dir: Path, tracker: str = "mlflow") -> str:
    """Log the run at `run_dir` (configuration, per-task outcomes, figures once graded) to `tracker`; the tracked run's
    id. Logging again (e.g. after `evaluate`) updates the same tracked run."""
    check_tracker(tracker)
    import mlflow

    try:
        return _log(mlflow, RunDir.existing(run_dir))
    except mlflow.exceptions.MlflowException as e:
        raise TrackingError(f"--track mlflow: {str(e).splitlines()[0]}") from None


def _log(mlflow, run: RunDir) -> str:
    """`track` with MLflow: params once, then metrics and the per-task table (again on each call)."""
    saved = run.config()
    run_id = str(saved.get("run_id", ""))
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or "codescale")
    found = mlflow.search_runs(filter_string=f"tags.`{RUN_TAG}` = '{run_id}'", output_format="list")
    with mlflow.start_run(run_id=found[0].info.run_id if found else None, run_name=None if found else run.name) as active:
        mlflow.set_tags({RUN_TAG: run_id, "codescale.command": str(saved.get("command", "")),
                         "codescale.path": str(run.path.resolve())})
        if not found:  # params are written once: they describe the run, which does not change
            params = {k: v for k, v in flat(saved.get("config") or {}).items() if len(str(v)) <= PARAM_CHARS}
            mlflow.log_params(params)
        rows = outcomes(run)
        mlflow.log_metrics({"tasks": len(rows), "done": sum(r["status"] != "error" for r in rows),
                            "failed": sum(r["status"] == "error" for r in rows),
                            "tokens": sum(r["tokens"] for r in rows), **figures(run)})
        mlflow.log_dict({"tasks": rows}, "tasks.json")
        mlflow.log_dict(saved, "run.yaml")
        return active.info.run_id
