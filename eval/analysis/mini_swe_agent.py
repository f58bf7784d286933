"""A trajectory as a mini-SWE-agent trajectory file (`trajectory_format: mini-swe-agent-1.1`, what its batch runs save
as `<instance>/<instance>.traj.json` and its inspector opens): the messages as sent, each reply carrying its command
as an action, each output as a user message, and a closing `exit` message with the exit status and the submission."""

from __future__ import annotations

from codescale.agent.records import Trajectory
from codescale.eval.analysis.messages import Opening

FORMAT = "mini-swe-agent-1.1"
EXIT_STATUSES = {"submitted": "Submitted", "step_limit": "LimitsExceeded", "cost_limit": "LimitsExceeded",
                 "token_limit": "LimitsExceeded", "time_limit": "TimeExceeded", "format_error": "RepeatedFormatError",
                 "model_error": "ModelError", "sandbox_error": "SandboxError"}
"""codescale's exit status -> the name mini-SWE-agent records for the same ending (its exception's)."""


def messages(traj: Trajectory, opening: Opening) -> list[dict]:
    """The conversation in mini-SWE-agent's message shape. A submitting step's output is the `exit` message's, as
    mini-SWE-agent records it; it was never sent back to the model."""
    found = [{"role": m["role"], "content": m["content"]} for m in opening.messages]
    for step in traj.steps:
        reply = {"role": "assistant", "content": step.response,
                 "extra": {"actions": [] if step.action is None else [{"command": step.action}],
                           "cost": step.usage.cost_usd or 0.0, "timestamp": step.started_at.timestamp(),
                           "usage": step.usage.model_dump()}}
        if step.thinking:
            reply["reasoning_content"] = step.thinking
        found.append(reply)
        last = step is traj.steps[-1]
        if last and traj.exit_status == "submitted":
            break
        extra = {"returncode": step.returncode, "timed_out": step.timed_out} if step.action is not None else \
            {"interrupt_type": "FormatError"}
        found.append({"role": "user", "content": step.observation, "extra": extra})
    if traj.exit_status is not None:
        status = EXIT_STATUSES[traj.exit_status]
        found.append({"role": "exit", "content": traj.patch if traj.exit_status == "submitted" else traj.error or status,
                      "extra": {"exit_status": status, "submission": traj.patch}})
    return found


def to_mini_swe_agent(traj: Trajectory, opening: Opening) -> dict:
    """The mini-SWE-agent trajectory file of one rollout."""
    return {
        "info": {
            "model_stats": {"instance_cost": traj.usage.cost_usd or 0.0, "api_calls": traj.usage.requests},
            "config": {"model": {"model_name": traj.model}, "agent_type": "codescale"},
            "exit_status": EXIT_STATUSES.get(traj.exit_status or "", ""), "submission": traj.patch,
            "codescale": {"rollout_id": traj.rollout_id, "generation": traj.generation, "exit_status": traj.exit_status,
                          "error": traj.error, "opening": opening.source, "notes": traj.notes},
        },
        "messages": messages(traj, opening),
        "trajectory_format": FORMAT,
        "instance_id": traj.task_id,
    }
