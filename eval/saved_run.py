"""A finished run directory read back through the record classes that wrote it (for compare, select, report).

Every file is validated on reading; a record of an unknown or older format raises RecordError naming the
file (and line) and the field at fault.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from agent.records import Task, Trajectory
from eval.grading import TaskGrade
from eval.rundir import read_lines
from scaling.records import Selection, Summary, TaskResult

R = TypeVar("R", bound=BaseModel)


class RecordError(ValueError):
    """A run file that cannot be read as the record it should hold; the message names the file and field."""


def _problem(e: ValidationError) -> str:
    err = e.errors()[0]
    field = ".".join(map(str, err["loc"])) or "(top)"
    more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return f"field {field!r}: {err['msg']}{more}"


def parse(cls: type[R], data: object, where: str) -> R:
    """`cls` validated from `data`; `where` (file, file:line) is named in the error."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise RecordError(f"{where}: not a {cls.__name__} record of this codescale version: {_problem(e)}") from None


def read_json(cls: type[R], path: Path) -> R:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    return parse(cls, data, str(path))


def read_jsonl(cls: type[R], path: Path) -> list[R]:
    """The records of a JSONL file (a torn last line skipped); for one id repeated, later lines are kept too."""
    try:
        rows = read_lines(Path(path))
    except ValueError as e:
        raise RecordError(str(e)) from None
    return [parse(cls, row, f"{path}:{number}") for number, row in enumerate(rows, 1)]


def _last_by_id(records: list[R]) -> dict[str, R]:
    return {r.instance_id: r for r in records}  # a re-run task's last line wins


class SavedRun:
    """One run directory: results, grades (when evaluated), config, and each task's files on demand."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not (self.path / "results.jsonl").is_file():
            raise RecordError(f"{self.path}: not a run directory (no results.jsonl)")
        self.name = self.path.name

    @cached_property
    def results(self) -> dict[str, TaskResult]:
        """instance id -> its TaskResult (the last line for a task run more than once)."""
        return _last_by_id(read_jsonl(TaskResult, self.path / "results.jsonl"))

    @cached_property
    def grades(self) -> dict[str, TaskGrade]:
        """instance id -> its TaskGrade from eval.jsonl; empty when the run was not evaluated."""
        path = self.path / "eval.jsonl"
        return _last_by_id(read_jsonl(TaskGrade, path)) if path.is_file() else {}

    @cached_property
    def config(self) -> dict:
        """run.yaml as written (run id, versions, `config`: the resolved configuration); {} when absent."""
        path = self.path / "run.yaml"
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise RecordError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
            raise RecordError(f"{path}: field 'config': expected a mapping")
        return data

    @property
    def model(self) -> str:
        return str(self.config.get("config", {}).get("model", {}).get("id", ""))

    @property
    def strategy(self) -> str:
        kinds = sorted({r.strategy for r in self.results.values()})
        return ",".join(kinds)

    def task_dir(self, instance_id: str) -> Path:
        return self.path / "tasks" / instance_id

    def task(self, instance_id: str) -> Task | None:
        path = self.task_dir(instance_id) / "task.json"
        return read_json(Task, path) if path.is_file() else None

    def trajectory(self, instance_id: str, rollout_id: str) -> Trajectory | None:
        path = self.task_dir(instance_id) / f"{rollout_id}.traj.json"
        return read_json(Trajectory, path) if path.is_file() else None

    def summary(self, instance_id: str, rollout_id: str) -> Summary | None:
        path = self.task_dir(instance_id) / f"{rollout_id}.summary.json"
        return read_json(Summary, path) if path.is_file() else None

    def selections(self, instance_id: str) -> list[Selection]:
        """Every selection of a task: PDR contexts first (by name), then the final one."""
        folder = self.task_dir(instance_id)
        paths = sorted(folder.glob("selection.*.json")) + [folder / "selection.json"]
        return [read_json(Selection, p) for p in paths if p.is_file()]

    def graded_candidates(self, instance_id: str) -> dict[str, bool]:
        """rollout id -> resolved, for every graded rollout of the task ({} without --all-candidates)."""
        grade = self.grades.get(instance_id)
        return {c.rollout_id: c.resolved for c in grade.candidates} if grade else {}
