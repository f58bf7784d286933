"""What stands for a patch when a task's outcome is its container (Terminal-Bench): the commands a rollout ran
and the final outputs it saw. RTV drops rollouts whose evidence is empty (they ran nothing) and merges identical
ones; the judge is shown it below each summary."""

from __future__ import annotations

from codescale.agent.records import Task, Trajectory
from codescale.scaling.compression import clip

COMMAND_CHARS = 300
OUTPUT_CHARS = 1200
LAST_OUTPUTS = 2
"""The outputs of this many last commands (before the submission) are shown."""


def evidence(traj: Trajectory, *, command_chars: int = COMMAND_CHARS, output_chars: int = OUTPUT_CHARS) -> str:
    """Every command (exit code, clipped) and the outputs of the last LAST_OUTPUTS; "" when none ran."""
    steps = [s for s in traj.steps if s.action and s.returncode is not None]
    work = [s for s in steps if s is not steps[-1] or traj.exit_status != "submitted"] if steps else []
    if not work:
        return ""
    lines = [f"Commands ({len(work)}), with exit codes:"]
    lines += [f"- [{s.returncode}] $ {clip(s.action, command_chars)}" for s in work]
    for s in work[-LAST_OUTPUTS:]:
        lines += ["", f"Output of step {s.index} ($ {clip(s.action, 120)}):", clip(s.observation, output_chars)]
    lines += ["", f"Exit status: {traj.exit_status}."]
    return "\n".join(lines)


def outcome(task: Task, traj: Trajectory) -> str:
    """What the bracket compares of a rollout: its patch, or for a container task its evidence."""
    return evidence(traj) if task.outcome == "container" else traj.patch
