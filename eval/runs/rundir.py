"""The run directory: run.yaml, results.jsonl, preds.jsonl and tasks/<instance_id>/ (docs/ARCHITECTURE.md).

The one reader of run directories for every command, and the writer of its top-level files (a task folder's file
names and writes are agent/files.py's). Lines are appended with one write each under
O_APPEND and fsynced, so a killed run leaves at most a partial last line, which readers skip. Every file is
validated on reading; a record of an unknown or older format raises RecordError naming the file (and line) and
the field at fault. Reading creates nothing.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import subprocess
import threading
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from codescale.agent.files import TaskFiles, inside, write_atomic
from codescale.agent.records import Task, Trajectory
from codescale.eval.tasks.grading import TaskGrade
from codescale.eval.tasks.kinds import TaskKind, as_kind
from codescale.scaling.records import Selection, Summary, TaskResult

R = TypeVar("R", bound=BaseModel)


class RecordError(ValueError):
    """A run file that cannot be read as the record it should hold; the message names the file and field."""


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
"""The errnos of a full disk (or quota): the batch stops starting tasks, and a resume goes on once there is space."""


def disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL


def append_line(path: Path, record: dict) -> None:
    """Append one JSON line whole or not at all (a short write on a full disk is cut off again, then raised)."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        if os.write(fd, line) != len(line):
            os.ftruncate(fd, start)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[dict]:
    """The complete JSON lines of a file; an unreadable last line (torn by a killed writer) is skipped."""
    if not path.exists():
        return []
    lines = Path(path).read_bytes().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = parse_line(line)
        if record is None:
            if number == len(lines):
                break  # a torn last line
            raise RecordError(f"{path}:{number}: not a JSON record line")
        records.append(record)
    return records


def parse_line(line: bytes) -> dict | None:
    """One JSON-lines record, or None when the line is not one (not UTF-8, not JSON, not an object)."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def read_text(path: Path) -> str:
    """A run file's text; RecordError naming it when it is not UTF-8 text."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None


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
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    return parse(cls, data, str(path))


def read_jsonl(cls: type[R], path: Path) -> list[R]:
    """The records of a JSONL file (a torn last line skipped); for one id repeated, later lines are kept too."""
    return [parse(cls, row, f"{path}:{number}") for number, row in enumerate(read_lines(Path(path)), 1)]


def _last_by_id(records: list[R]) -> dict[str, R]:
    return {r.instance_id: r for r in records}  # a re-run task's last line wins


def _last_of(cls: type[R], path: Path, instance_id: str) -> R | None:
    """The last record of one task in a JSONL file, found by searching for its id from the end: only lines that name
    it are parsed (a large run's viewer reads one task's line, not every task's). A torn last line is skipped."""
    if not path.is_file():
        return None
    data, needle = path.read_bytes(), json.dumps(instance_id, ensure_ascii=False).encode()
    end = len(data)
    while (at := data.rfind(needle, 0, end)) >= 0:
        start, stop = data.rfind(b"\n", 0, at) + 1, data.find(b"\n", at)
        end = start
        try:
            row = json.loads(data[start: len(data) if stop < 0 else stop])
        except json.JSONDecodeError:
            if stop < 0 or not data[stop:].strip():
                continue  # a torn last line
            raise RecordError(f"{path}: a line naming {instance_id} is not JSON") from None
        if isinstance(row, dict) and row.get("instance_id") == instance_id:
            return parse(cls, row, f"{path} (the last line of {instance_id})")
    return None


def is_name(text: str) -> bool:
    """Whether `text` can name a file in a folder (a task id, a rollout id): never a path."""
    return bool(text) and "/" not in text and "\\" not in text and text not in (".", "..")


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
    """One run directory, written by a run and read back by every command (evaluate, compare, select, report)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name
        self.results_path = self.path / "results.jsonl"
        self.preds_path = self.path / "preds.jsonl"
        self.config_path = self.path / "run.yaml"
        self.grades_path = self.path / "eval.jsonl"
        self.ledger_path = self.path / "usage.jsonl"
        """One line of Usage per model call of a batch run (its budget counts across sessions)."""
        self._results: dict[str, TaskResult] | None = None
        self._grades: dict[str, TaskGrade] | None = None
        self._predicted: set[str] | None = None
        self._writing = threading.Lock()
        """Held while a task is recorded (the workers of a batch record theirs from several threads)."""

    @classmethod
    def existing(cls, path: Path) -> RunDir:
        """A run directory that must already hold results (for the commands that read runs)."""
        run = cls(path)
        if not run.results_path.is_file():
            raise RecordError(f"{run.path}: not a run directory (no results.jsonl)")
        return run

    @classmethod
    def begun(cls, path: Path) -> RunDir:
        """A run directory that a run has opened (run.yaml), finished or still running (for the viewer)."""
        run = cls(path)
        if not run.config_path.is_file() and not run.results_path.is_file():
            raise RecordError(f"{run.path}: not a run directory (no run.yaml or results.jsonl)")
        return run

    # writing

    def task_dir(self, instance_id: str) -> Path:
        """`tasks/<instance_id>/`; RecordError for an id that would lead outside the run directory."""
        try:
            folder = inside(self.path / "tasks", instance_id)
        except ValueError as e:
            raise RecordError(f"{self.path}: task id {instance_id!r}: {e}") from None
        if self.path.exists() and not folder.resolve().is_relative_to(self.path.resolve()):
            raise RecordError(f"{self.path}: its tasks/ folder leads outside the run directory")
        return folder

    def files(self, instance_id: str) -> TaskFiles:
        return TaskFiles(self.task_dir(instance_id))

    def make_task_dir(self, instance_id: str) -> Path:
        path = self.task_dir(instance_id)
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
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.config_path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))

    def clear(self) -> None:
        """Remove what an earlier run wrote here (`--overwrite`), and only that: its top-level records, the harness's
        logs and every task folder (one holding a task.json); anything else in the directory stays. run.yaml is
        rewritten."""
        for path in (self.results_path, self.preds_path, self.ledger_path, self.grades_path, self.path / "curves.json"):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.path / "logs", ignore_errors=True)
        tasks = self.path / "tasks"
        for folder in sorted(tasks.iterdir()) if tasks.is_dir() and not tasks.is_symlink() else []:
            if folder.is_dir() and not folder.is_symlink() and (folder / "task.json").is_file():
                shutil.rmtree(folder)
        if tasks.is_dir() and not tasks.is_symlink() and not any(tasks.iterdir()):
            tasks.rmdir()
        self._results = None

    def is_run(self) -> bool:
        """Whether the directory holds a codescale run (its run.yaml names a run id and a configuration)."""
        try:
            saved = self.config()
        except RecordError:
            return False
        return bool(saved.get("run_id")) and isinstance(saved.get("config"), dict)

    def write_task(self, task: Task) -> None:
        self.make_task_dir(task.instance_id)
        TaskFiles.save(self.files(task.instance_id).task, task)

    def append_result(self, result: TaskResult, model_name: str) -> None:
        """Record a finished task: its result line, then its prediction line (swebench format). preds.jsonl holds one
        line per task at every moment: a task recorded again has its line replaced (the file written whole and
        renamed), a new one is appended."""
        self.path.mkdir(parents=True, exist_ok=True)
        prediction = {"instance_id": result.instance_id, "model_name_or_path": model_name,
                      "model_patch": result.final_patch}
        with self._writing:
            append_line(self.results_path, result.model_dump(mode="json"))
            self.write_prediction(prediction)
            self._results = None

    def write_prediction(self, prediction: dict) -> None:
        """Add or replace the task's line in preds.jsonl, keeping one line per task (the last given wins)."""
        if self._predicted is None:
            self._predicted = {p.get("instance_id") for p in read_lines(self.preds_path)}
        if prediction["instance_id"] in self._predicted:
            self.write_predictions(read_lines(self.preds_path) + [prediction])
        else:
            append_line(self.preds_path, prediction)
            self._predicted.add(prediction["instance_id"])

    def write_predictions(self, predictions: list[dict]) -> None:
        """preds.jsonl written whole (to a temporary name, then renamed), one line per task: the last of each wins."""
        by_id = {p.get("instance_id"): p for p in predictions}
        write_atomic(self.preds_path, "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in by_id.values()))
        self._predicted = set(by_id)

    def write_grades(self, grades: list[TaskGrade]) -> None:
        write_atomic(self.grades_path, "".join(g.model_dump_json() + "\n" for g in grades))
        self._grades = None

    # reading

    def results(self) -> dict[str, TaskResult]:
        """instance id -> its TaskResult (the last line for a task run more than once)."""
        if self._results is None:
            self._results = _last_by_id(read_jsonl(TaskResult, self.results_path))
        return self._results

    def result(self, instance_id: str) -> TaskResult | None:
        """One task's TaskResult (its last line), or None while it has none; reads no other task's record."""
        return _last_of(TaskResult, self.results_path, instance_id)

    def grade(self, instance_id: str) -> TaskGrade | None:
        """One task's TaskGrade from eval.jsonl, or None; reads no other task's record."""
        return _last_of(TaskGrade, self.grades_path, instance_id)

    def grades(self) -> dict[str, TaskGrade]:
        """instance id -> its TaskGrade from eval.jsonl; empty when the run was not evaluated."""
        if self._grades is None:
            path = self.grades_path
            self._grades = _last_by_id(read_jsonl(TaskGrade, path)) if path.is_file() else {}
        return self._grades

    def config(self) -> dict:
        """run.yaml as written (run id, versions, `config`: the resolved configuration); {} when absent."""
        path = self.config_path
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(read_text(path)) or {}
        except yaml.YAMLError as e:
            raise RecordError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
            raise RecordError(f"{path}: field 'config': expected a mapping")
        return data

    @property
    def model(self) -> str:
        return str(self.config().get("config", {}).get("model", {}).get("id", ""))

    @property
    def strategy(self) -> str:
        return ",".join(sorted({r.strategy for r in self.results().values()}))

    def task(self, instance_id: str) -> TaskKind | None:
        """The task record, as its kind; None when the run holds none."""
        path = self.files(instance_id).task
        if not path.is_file():
            return None
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(data, dict):
            raise RecordError(f"{path}: not a task record (a JSON object)")
        try:
            return as_kind(data)
        except ValueError as e:
            raise RecordError(f"{path}: {e}") from None

    def task_ids(self) -> list[str]:
        """Every task the run has begun (a folder under tasks/) or finished, sorted (names only: never a path)."""
        folders = self.path / "tasks"
        begun = {p.name for p in folders.iterdir() if p.is_dir()} if folders.is_dir() else set()
        return sorted(i for i in begun | set(self.results()) if is_name(i))

    def has_task(self, instance_id: str) -> bool:
        """Whether the run has begun the task (its folder is there); reads no record."""
        return is_name(instance_id) and self.task_dir(instance_id).is_dir()

    def trajectory(self, instance_id: str, rollout_id: str) -> Trajectory | None:
        path = self.files(instance_id).trajectory(rollout_id)
        return read_json(Trajectory, path) if path.is_file() else None

    def summary(self, instance_id: str, rollout_id: str) -> Summary | None:
        path = self.files(instance_id).summary(rollout_id)
        return read_json(Summary, path) if path.is_file() else None

    def selections(self, instance_id: str) -> list[Selection]:
        """Every selection of a task: PDR contexts first (by name), then the final one."""
        return [read_json(Selection, p) for p in self.files(instance_id).selections()]

    def graded_candidates(self, instance_id: str) -> dict[str, bool]:
        """rollout id -> resolved, for every graded rollout of the task ({} without --all-candidates)."""
        grade = self.grades().get(instance_id)
        return {c.rollout_id: c.resolved for c in grade.candidates} if grade else {}
