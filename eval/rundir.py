"""The run directory: run.yaml, results.jsonl, preds.jsonl and tasks/<instance_id>/ (DESIGN.md §5).

Lines are appended with one write each under O_APPEND and fsynced, so a killed run leaves at most a partial
last line, which readers skip.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

from agent.records import Task, write_atomic
from scaling.records import TaskResult


def append_line(path: Path, record: dict) -> None:
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[dict]:
    """The complete JSON lines of a file; a torn last line (from a killed writer) is skipped."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # a torn last line
            raise ValueError(f"{path}:{number}: not a JSON line") from None
    return records


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("codescale", "openai", "anthropic", "docker", "swebench", "pydantic"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def source_git_sha() -> str:
    """The git commit of the codescale source tree, or '' when not running from a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    sha = out.stdout.strip() if out.returncode == 0 else ""
    return f"{sha}-dirty" if sha and dirty.stdout.strip() else sha


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.results_path = self.path / "results.jsonl"
        self.preds_path = self.path / "preds.jsonl"
        self.config_path = self.path / "run.yaml"
        self.ledger_path = self.path / "usage.jsonl"
        """One line of Usage per model call of a batch run (its budget counts across sessions)."""

    def task_dir(self, instance_id: str) -> Path:
        path = self.path / "tasks" / instance_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_config(self, config: dict, run_id: str, **extra) -> None:
        record = {
            "run_id": run_id,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_sha": source_git_sha(),
            "versions": versions(),
            **extra,
            "config": config,
        }
        write_atomic(self.config_path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))

    def clear(self) -> None:
        """Remove every result and task directory of an earlier run here (`--overwrite`); run.yaml is rewritten."""
        for path in (self.results_path, self.preds_path, self.ledger_path):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.path / "tasks", ignore_errors=True)

    def write_task(self, task: Task) -> None:
        write_atomic(self.task_dir(task.instance_id) / "task.json", task.model_dump_json(indent=1))

    def results(self) -> list[TaskResult]:
        return [TaskResult.model_validate(r) for r in read_lines(self.results_path)]

    def append_result(self, result: TaskResult, model_name: str) -> None:
        """Record a finished task: its result line, then its prediction line (swebench format)."""
        self.path.mkdir(parents=True, exist_ok=True)
        append_line(self.results_path, result.model_dump(mode="json"))
        append_line(
            self.preds_path,
            {"instance_id": result.instance_id, "model_name_or_path": model_name, "model_patch": result.final_patch},
        )
