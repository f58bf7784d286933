"""What every task kind answers beyond the lower layers' questions (agent/records.py `Task`: `takes_diff`,
`outcome_text`, `outcome_lines`, `empty_reason`)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, TypeVar

from pydantic import BaseModel

from codescale.agent.files import TaskFiles
from codescale.agent.records import Task, Trajectory
from codescale.sandboxes.base import Sandbox

C = TypeVar("C", bound=BaseModel)


class GradeJob(NamedTuple):
    """One rollout's outcome to grade (`rollout_id` None: no rollout was selected, `patch` empty)."""

    task: TaskKind
    rollout_id: str | None
    patch: str
    files: TaskFiles
    """The task's folder in the run directory (a container task's reward is read there)."""


class TaskKind(Task):
    """A task of a known kind: the eval layer's hooks, each with what it does."""

    def overlay(self, config: C) -> C:
        """A run's configuration (with `agent`, `sandbox` and `scaling`) as this task needs it: its kind's prompts and
        limits where the user kept the defaults. Applied once per task, where the run engine resolves its config."""
        return config

    def shown(self) -> list[str]:
        """The lines `codescale tasks show` prints between the id and the problem statement: a patch task's."""
        lists = [f"{name}:\n" + "".join(f"  - {t}\n" for t in getattr(self, name)).rstrip()
                 for name in ("FAIL_TO_PASS", "PASS_TO_PASS")]
        return [f"repo: {self.repo}", f"base_commit: {self.base_commit}",
                f"difficulty: {getattr(self, 'difficulty', '')}", f"image: {self.image}", f"workdir: {self.workdir}",
                f"test_runner: {self.test_runner}", f"log_parser: {self.log_parser}", f"eval_type: {self.eval_type}",
                *lists]

    def after_rollout(self, sandbox: Sandbox, traj: Trajectory, task_dir: Path, config: BaseModel) -> None:
        """Runs when the agent has finished, while the rollout's container still lives (agent.rollout.run_rollout's
        `after`, with the run's `config` bound); what it finds is saved in `task_dir`."""

    def rollout_complete(self, files: TaskFiles, rollout_id: str) -> bool:
        """Whether a finished rollout saved by an earlier session has everything its kind needs (else it is run
        again: its container is gone)."""
        return True

    def resolved(self, files: TaskFiles, rollout_id: str) -> bool | None:
        """Whether the rollout resolved the task, where the kind knows it once the rollout ran (None: only grading
        can tell)."""
        return None

    def make_image(self, client) -> None:
        """Make `self.image` present in the Docker engine of `client` (build or pull); TaskError when it cannot."""
        raise NotImplementedError

    @classmethod
    def grade(cls, jobs: list[GradeJob], log_dir: Path, workers: int, timeout: int) -> list:
        """A grade (eval.tasks.grading.PatchGrade) per job, in order, for tasks of this kind."""
        raise NotImplementedError
