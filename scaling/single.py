"""The `single` strategy: one rollout, its patch is the answer."""

from __future__ import annotations

import time
from pathlib import Path

from codescale.agent.models.base import ModelConfig
from codescale.agent.models.spending import Spending
from codescale.agent.records import Task
from codescale.scaling.base import RolloutFn, ScalingConfig
from codescale.scaling.records import PhaseUsage, TaskResult


class Single:
    def __init__(self, config: ScalingConfig, *, rollout: RolloutFn, model: ModelConfig, task_dir: Path,
                 run_id: str = ""):
        self.config = config
        self.rollout = rollout

    @staticmethod
    def planned(config: ScalingConfig) -> int:
        return 1

    def solve(self, task: Task) -> TaskResult:
        start = time.monotonic()
        spending = Spending(self.config.max_task_cost)
        traj = self.rollout(task, rollout_id="g0-r0", spending=spending)
        return TaskResult(
            instance_id=task.instance_id,
            strategy="single",
            final_rollout=traj.rollout_id,
            final_patch=traj.patch,
            rollouts=[[traj.rollout_id]],
            exit_statuses={traj.rollout_id: traj.exit_status or ""},
            usage=PhaseUsage(rollouts=traj.usage),
            seconds=time.monotonic() - start,
            cap=spending.reached(),
        )
