"""Opening a run directory: the one way every command that writes one begins (run, batch, swebench, fix-issue,
select, demo).

`open_run` checks the model id and its server, takes the directory (locked for this process), refuses, clears or
resumes what an earlier run left there, mints or keeps the run id, removes the containers a killed session left,
writes run.yaml (with the run's warnings) and installs the Ctrl-C handler. Nothing is written before the checks.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from codescale.agent.models.base import Model, ModelError
from codescale.eval.runs.config import ConfigError, RunConfig, run_warnings
from codescale.eval.runs.interrupt import Interrupt, exit_on_interrupt
from codescale.eval.runs.resume import ResumeError, differences, finished, lock, remove_leftovers, repair, to_retry
from codescale.eval.runs.rundir import RunDir
from codescale.eval.runs.terminal import stderr


class PreflightError(Exception):
    """Something that would make every rollout fail, found before anything is written."""


def check_server(base_url: str, timeout: float = 5.0) -> None:
    """Fail fast when the model's server (given by --base-url or its provider row) does not accept connections."""
    url = urlparse(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise PreflightError(f"the model's base URL {base_url!r} is not an http(s) URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as e:
        raise PreflightError(f"cannot reach the model server at {base_url} ({e.strerror or e})") from None


def check_model(config: RunConfig) -> Model:
    """The agent's model, once its id is known to name a backend and model and its server (if given) answers;
    ConfigError or PreflightError otherwise."""
    try:
        model = Model(config.model)
    except (ValueError, ModelError) as e:
        raise ConfigError(str(e)) from None
    if model.endpoint.base_url:
        check_server(model.endpoint.base_url)
    return model


def check_out(run_dir: RunDir) -> None:
    """`--out` must be a new or empty directory, or one a codescale run wrote (ConfigError otherwise): a run never
    writes into, nor clears, a directory of something else."""
    out = run_dir.path
    existing = next((p for p in (out, *out.parents) if p.exists() or p.is_symlink()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"--out {out}: {'it' if existing == out else existing} is a file, not a directory")
    if out.is_dir() and any(p.name != ".lock" for p in out.iterdir()) and not run_dir.is_run():
        raise ConfigError(f"--out {out}: a directory that holds files but no codescale run (no run.yaml of one); "
                          "choose a new or empty directory")


@dataclass
class OpenRun:
    """A run directory opened for writing by this process."""

    dir: RunDir
    run_id: str
    model: Model | None
    """The agent's model, checked (None for a run that calls no model)."""
    interrupt: Interrupt
    """Ctrl-C's handler; `interrupt.add(cleanup)` adds what the run starts later, `interrupt(message)` aborts."""
    finished: dict[str, str] = field(default_factory=dict)
    """Instance id -> status of the tasks an earlier session of a resumed batch finished."""
    saved: dict | None = None
    """The earlier run.yaml of a resumed run (or of a killed one continued), else None."""


def open_run(out: Path, config: RunConfig, *, command: str, overwrite: bool | None = False, resume: bool = False,
             same: tuple[str, ...] = (), retry_errors: bool = False, keep_errors: bool = False,
             retry_failed: bool = False, say: Callable[[str], None] = stderr,
             cleanups: tuple[Callable[[], object], ...] = (), model: Model | None = None, calls_model: bool = True,
             **meta: Any) -> OpenRun:
    """Open `out` for the run of `command` under `config`; `meta` goes into run.yaml beside the config. `model`: the
    agent's model when the caller checked it already (`check_model`); `calls_model` False: the run makes no model
    call, so the model is not checked (a re-selection by seeded random pick).

    `overwrite`: clear an earlier run's files first (None: the command has no --overwrite). With `resume` (batch),
    an earlier run is resumed when its configuration is the same (ResumeError otherwise): its run id is kept and
    its finished tasks are returned (a failed task is not finished: eval/runs/resume.py `to_retry`; `keep_errors`
    counts it as finished). Without it, an earlier run's results are refused, unless `retry_failed` and every task
    it recorded failed (eval/runs/outcomes.py) fewer than ERROR_ATTEMPTS times under the same configuration: then it
    is continued to retry them. An earlier run killed before any result is continued (its finished rollouts reused)
    when its configuration and the run.yaml keys in `same` are unchanged, and cleared otherwise."""
    model = model or (check_model(config) if calls_model else None)
    run_dir = RunDir(out)
    check_out(run_dir)
    lock(run_dir)
    config_dict = config.model_dump(mode="json")
    saved = run_dir.config() or None
    if overwrite:
        run_dir.clear()
        saved = None
    elif resume:
        if saved is None and run_dir.results_path.exists():
            raise ResumeError(f"{out} holds results but no run.yaml; pass --overwrite to start over")
        if saved is not None and (changed := differences(saved.get("config") or {}, config_dict)):
            raise ResumeError(
                f"{out} was run with a different configuration; resuming would mix incompatible results. "
                f"Differs: {'; '.join(changed)}. Use the same settings, another --out, or --overwrite to start over.")
    else:
        unchanged = saved is not None and not differences(saved.get("config") or {}, config_dict) and all(
            saved.get(key) == meta.get(key) for key in same)
        if run_dir.results_path.exists():
            again = to_retry(run_dir) if retry_failed and unchanged else set()
            if not again or again != set(run_dir.results()):
                hint = "choose a new --out" if overwrite is None else "pass --overwrite to replace them"
                raise ConfigError(f"{out} already holds results; {hint}")
            say(f"retrying {', '.join(sorted(again))}: its last attempt failed")
        elif saved is not None and not unchanged:
            run_dir.clear()  # a killed run of something else: nothing of it can be reused
            saved = None
    run_id = str(saved["run_id"]) if saved and saved.get("run_id") else uuid.uuid4().hex[:12]
    for old in {run_id, (saved or {}).get("run_id")} - {None}:
        if removed := remove_leftovers(str(old)):
            say(f"removed {removed} container(s) left by an earlier session of this run")
    repair(run_dir, config.model.id)
    warnings = run_warnings(config)
    for warning in warnings:
        say(f"warning: {warning}")
    run_dir.write_config(
        config_dict, run_id, command=command, sessions=(saved or {}).get("sessions", 0) + 1, **meta,
        **({"warnings": warnings} if warnings else {}),
        **({"created": saved["created"]} if saved and saved.get("created") else {}),
    )
    interrupt = exit_on_interrupt(run_id, *cleanups)
    done = finished(run_dir, retry_errors, keep_errors) if resume else {}
    return OpenRun(dir=run_dir, run_id=run_id, model=model, interrupt=interrupt, finished=done, saved=saved)
