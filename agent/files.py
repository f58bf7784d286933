"""A task's folder in a run directory, `tasks/<instance_id>/`: the one place its file names are spelled, and the
atomic writer every record goes through (docs/ARCHITECTURE.md, "The run directory").

    task.json                  the task record
    <rollout>.traj.json        a rollout's trajectory, written as it grows (agent/rollout.py)
    <rollout>.summary.json     its summary (scaling/population.py)
    selection.json             the final selection; selection.<stage>.json: PDR's context selections
    <rollout>.reward.json      a container task's reward, written when its tests ran (eval/tasks/kinds/container.py)
    <rollout>.evidence.json    execution evidence of a candidate; evidence.base.json: of the base commit
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel

BASE_EVIDENCE = "base"
"""The rollout id under which the base commit's execution evidence is kept."""


def write_atomic(path: Path, text: str) -> None:
    """Write a file whole or not at all (write to a sibling temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class UnsafeName(ValueError):
    """A name from a record (a task or rollout id) that would lead outside the folder it names a file of."""


def inside(folder: Path, name: str) -> Path:
    """`folder/name` for a `name` that is one plain path component; UnsafeName for one that would lead elsewhere
    (a separator, `..`, a hidden name, a symlink out of `folder`). Every path built from a record's id goes through it."""
    folder = Path(folder)
    if not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise UnsafeName(f"{name!r} is not a plain name: it would not stay inside {folder}")
    path = folder / name
    if path.exists() and not path.resolve().is_relative_to(folder.resolve()):
        raise UnsafeName(f"{path} leads outside {folder}")
    return path


class TaskFiles:
    """The paths of one task's records; `save` writes any of them atomically. A rollout id that is not a plain name
    raises UnsafeName (`inside`)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @property
    def task(self) -> Path:
        return self.folder / "task.json"

    def trajectory(self, rollout_id: str) -> Path:
        return inside(self.folder, f"{rollout_id}.traj.json")

    def summary(self, rollout_id: str) -> Path:
        return inside(self.folder, f"{rollout_id}.summary.json")

    def reward(self, rollout_id: str) -> Path:
        return inside(self.folder, f"{rollout_id}.reward.json")

    def evidence(self, rollout_id: str) -> Path:
        name = "evidence.base.json" if rollout_id == BASE_EVIDENCE else f"{rollout_id}.evidence.json"
        return inside(self.folder, name)

    def selection(self, stage: str = "final") -> Path:
        return self.folder / ("selection.json" if stage == "final" else f"selection.{stage}.json")

    def selections(self) -> list[Path]:
        """Every selection file present: PDR's contexts first (by name), then the final one."""
        found = sorted(self.folder.glob("selection.*.json")) + [self.selection()]
        return [path for path in found if path.is_file()]

    def trajectories(self) -> list[Path]:
        """Every trajectory file present, by name."""
        return sorted(self.folder.glob("*.traj.json"))

    def evidences(self) -> list[Path]:
        """Every execution evidence file present, by name."""
        return sorted(p for p in self.folder.glob("*.json") if is_evidence(p.name))

    @staticmethod
    def save(path: Path, record: BaseModel) -> None:
        write_atomic(path, record.model_dump_json(indent=1))


def is_evidence(name: str) -> bool:
    """Whether a file name is an execution evidence record's."""
    return name == "evidence.base.json" or name.endswith(".evidence.json")
