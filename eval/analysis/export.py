"""`codescale export RUN --format F --out DIR`: a run's records in the formats other tools read.

    atif             DIR/<task>/<rollout>.json          Harbor's ATIF trajectories (eval/analysis/atif.py)
    mini-swe-agent   DIR/<task>/<rollout>.traj.json     mini-SWE-agent trajectory files (mini_swe_agent.py),
                     DIR/preds.json                     and its predictions file (instance id -> prediction)
    preds            DIR/preds.jsonl                    the swebench harness's predictions: each finished task's answer

Trajectories of every rollout are written (`final_only`: each finished task's answer only), running ones as they
stand. Opening messages come from the trajectory, or are rebuilt for one that predates them (eval/analysis/messages.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from codescale.agent.files import write_atomic
from codescale.agent.records import Trajectory
from codescale.eval.analysis.atif import to_atif
from codescale.eval.analysis.messages import opening
from codescale.eval.analysis.mini_swe_agent import to_mini_swe_agent
from codescale.eval.runs.rundir import RunDir, read_json

FORMATS = ("atif", "mini-swe-agent", "preds")


def _version() -> str:
    try:
        return metadata.version("codescale")
    except metadata.PackageNotFoundError:
        return "unknown"


def predictions(run: RunDir) -> list[dict]:
    """One harness prediction per finished task (a task run again: its last result)."""
    return [{"instance_id": r.instance_id, "model_name_or_path": run.model, "model_patch": r.final_patch}
            for r in run.results().values()]


def rollouts(run: RunDir, final_only: bool) -> list[tuple[str, str, Trajectory]]:
    """(task id, rollout id, trajectory) of every trajectory file of the run, or of each finished task's answer; the
    ids are the run's folder and file names (never a path a record holds)."""
    found = []
    for task in run.task_ids():
        result = run.results().get(task)
        for path in run.files(task).trajectories():
            rid = path.name.removesuffix(".traj.json")
            if not final_only or (result is not None and rid == result.final_rollout):
                found.append((task, rid, read_json(Trajectory, path)))
    return found


def export(run: RunDir, fmt: str, out: Path, final_only: bool = False) -> tuple[list[Path], list[str]]:
    """Write `run` in format `fmt` into `out`: the files written, and the rollouts left out (`task/rollout`: no
    message was ever sent, e.g. its sandbox failed at the start of a trajectory from before prompts were kept)."""
    out = Path(out)
    if fmt == "preds":
        path = out / "preds.jsonl"
        write_atomic(path, "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions(run)))
        return [path], []
    convert: Callable[[Trajectory], dict]
    if fmt == "atif":
        session, version = run.config().get("run_id") or run.name, _version()
        convert, suffix = (lambda t: to_atif(t, opening(run, t), session=session, version=version)), ".json"
    elif fmt == "mini-swe-agent":
        convert, suffix = (lambda t: to_mini_swe_agent(t, opening(run, t))), ".traj.json"
    else:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    written, skipped = [], []
    for task, rid, traj in rollouts(run, final_only):
        record = convert(traj)
        if not record.get("steps", record.get("messages")):
            skipped.append(f"{task}/{rid}")
            continue
        path = out / task / f"{rid}{suffix}"
        write_atomic(path, json.dumps(record, indent=1, ensure_ascii=False))
        written.append(path)
    if fmt == "mini-swe-agent":
        path = out / "preds.json"
        write_atomic(path, json.dumps({p["instance_id"]: p for p in predictions(run)}, indent=1, ensure_ascii=False))
        written.append(path)
    return written, skipped
