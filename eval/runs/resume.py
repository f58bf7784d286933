"""What resuming a run directory needs (eval/runs/opening.py decides when to resume).

results.jsonl is the truth for finished tasks. A resumed run keeps its run id (so that the containers a killed
session left, labelled with it, are found and removed), repairs what a kill can leave (a torn last line, a
result without its prediction line) and must have the same configuration as the one that wrote run.yaml,
apart from settings that cannot change a result.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from pathlib import Path
from typing import Any

from codescale.eval.runs.outcomes import failed
from codescale.eval.runs.rundir import RunDir, parse_line, read_lines

HARMLESS = ("model.base_url", "model.timeout", "model.retries", "scaling.concurrency", "cluster")
"""Config keys (and key prefixes) that may differ on resume: where the server is and how patiently it is
called, or where rollouts run, not what it computes. Batch options (workers, budgets, caps) live outside the config and may change too."""


RERUN_ON_RETRY = ("model_error", "sandbox_error")
"""Finished rollouts that ended so are run again when their task is (the server or engine was at fault)."""
ERROR_ATTEMPTS = 3
"""Sessions that may run a failed task (an error, or every rollout an infrastructure error), the first included:
rerunning the command retries it until then, and leaves it failed after."""


class ResumeError(ValueError):
    """The run directory cannot be resumed as asked; the message says why and what to do."""


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def differences(saved: dict, current: dict) -> list[str]:
    """`key: old -> new` for every setting that differs and would mix incompatible results."""
    old, new = flatten(saved), flatten(current)
    changed = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, "(unset)") != new.get(key, "(unset)") and not any(
            key == h or key.startswith(h + ".") for h in HARMLESS
        ):
            changed.append(f"{key}: {_short(old.get(key, '(unset)'))} -> {_short(new.get(key, '(unset)'))}")
    return changed


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_held: dict[Path, int] = {}
"""Run directories this process holds (path -> the locked file's descriptor)."""


def lock(run_dir: RunDir) -> int:
    """Hold the run directory for this process (released when it exits, even when killed); fails when another
    codescale process is using it. Taking it again in the same process is allowed."""
    run_dir.path.mkdir(parents=True, exist_ok=True)
    key = run_dir.path.resolve()
    if key in _held:
        return _held[key]
    fd = os.open(run_dir.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ResumeError(f"{run_dir.path} is in use by another codescale process") from None
    _held[key] = fd
    return fd


def cut_bad_tail(path: Path) -> None:
    """Cut off what cannot be read at the end of a JSON-lines file: a line without its newline (torn by a kill), then
    a last line that is not a record (garbage), so that the next line appended is not written after it."""
    if not path.exists():
        return
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1 if data and not data.endswith(b"\n") else len(data)
    start = data.rfind(b"\n", 0, max(keep - 1, 0)) + 1
    if keep and data[start:keep].strip() and parse_line(data[start:keep]) is None:
        keep = start
    if keep < len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)


def repair(run_dir: RunDir, model_name: str) -> None:
    """Undo what a kill can leave: an unreadable last line (cut off), a result line without its prediction (or with
    an earlier one); and make preds.jsonl hold one line per task."""
    for path in (run_dir.results_path, run_dir.preds_path, run_dir.ledger_path):
        cut_bad_tail(path)
    predictions = read_lines(run_dir.preds_path)
    if len({p.get("instance_id") for p in predictions}) != len(predictions):
        run_dir.write_predictions(predictions)  # one line per task (a run of an earlier version appended repeats)
    predicted = {p.get("instance_id"): p.get("model_patch") for p in predictions}
    for instance_id, result in run_dir.results().items():
        if predicted.get(instance_id) != result.final_patch:  # killed between the result line and its prediction
            run_dir.write_prediction({
                "instance_id": instance_id, "model_name_or_path": model_name, "model_patch": result.final_patch,
            })


def to_retry(run_dir: RunDir, retry_errors: bool = False, keep_errors: bool = False) -> set[str]:
    """The recorded tasks a rerun runs again: the failed ones (eval/runs/outcomes.py) that ran fewer than
    ERROR_ATTEMPTS times, unless `keep_errors`; with `retry_errors`, every failed task and every task with a rollout
    that ended in a model or sandbox error (only those rollouts run again)."""
    results = run_dir.results()
    if retry_errors:
        return {i for i, r in results.items() if failed(r) or any(s in RERUN_ON_RETRY for s in r.exit_statuses.values())}
    if keep_errors:
        return set()
    runs = Counter(str(line.get("instance_id")) for line in read_lines(run_dir.results_path))
    return {i for i, r in results.items() if failed(r) and runs[i] < ERROR_ATTEMPTS}


def finished(run_dir: RunDir, retry_errors: bool, keep_errors: bool = False) -> dict[str, str]:
    """Instance id -> status of the recorded tasks not to run again (all but `to_retry`)."""
    again = to_retry(run_dir, retry_errors, keep_errors)
    return {i: r.status for i, r in run_dir.results().items() if i not in again}


def remove_leftovers(run_id: str) -> int:
    """Remove the containers a killed session of this run left behind (found by their run-id label)."""
    try:
        import docker

        from codescale.sandboxes.docker import remove_containers
    except ImportError:  # no Docker SDK: this run used no container
        return 0
    for _ in range(3):  # the engine may still be removing one the killed session asked to remove, mid-listing
        try:
            return remove_containers(run_id)
        except docker.errors.NotFound:
            continue
        except docker.errors.DockerException:  # no engine reachable: nothing of this run can be running in it
            return 0
    return remove_containers(run_id)
