"""The messages a rollout's model calls were sent. A trajectory keeps its opening messages (`Trajectory.prompt`), and
every later message is a step's reply or what was sent back for it (`Trajectory.messages`). For a trajectory written
before the opening messages were kept, they are rebuilt from the run's resolved configuration (run.yaml) with the
task's kind overlay, the task record and the trajectory's refinement context, and marked as rebuilt."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from codescale.agent.records import Trajectory
from codescale.agent.templates import fresh_key, render
from codescale.eval.runs.config import RunConfig
from codescale.eval.runs.rundir import RunDir


@dataclass
class Opening:
    """A rollout's opening messages and where they come from."""

    messages: list[dict[str, str]] = field(default_factory=list)
    source: str = "stored"
    """`stored` (in the trajectory, exactly as sent), `rebuilt` (from run.yaml and task.json) or `missing`."""
    note: str = ""
    """What a rebuilt opening may differ in, or why none could be made."""


def opening(run: RunDir, traj: Trajectory) -> Opening:
    """The opening messages of `traj`, a rollout of `run`."""
    if traj.prompt:
        return Opening(traj.prompt)
    task = run.task(traj.task_id)
    if task is None:
        return Opening(source="missing", note="the trajectory predates stored prompts and the run holds no task.json")
    try:
        config = task.overlay(RunConfig.model_validate(run.config().get("config", {})))
    except ValidationError as e:
        return Opening(source="missing", note=f"the trajectory predates stored prompts and run.yaml no longer "
                                               f"validates ({e.errors()[0]['msg']})")
    agent = config.agent
    messages = [
        {"role": "system", "content": render(agent.system_template)},
        {"role": "user", "content": render(agent.instance_template, task=task,
                                           refinement_context=traj.refinement_context, workdir=task.workdir,
                                           key=fresh_key(task.problem_statement, traj.refinement_context))},
    ]
    note = ("rebuilt from run.yaml and task.json (the trajectory predates stored prompts; the random key of the "
            "prompt's delimiters, where its templates have one, is drawn anew)")
    if config.sandbox.get("kind", "docker") != "docker":
        note += f"; the {config.sandbox['kind']} sandbox's working directory was not recorded, {task.workdir} is shown"
    return Opening(messages, "rebuilt", note)
