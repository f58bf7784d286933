"""What the viewer shows of one rollout: every step with its thinking, command and output, the opening messages from
which each step's messages as sent follow (`Trajectory.messages`), its summary, patch, evidence and grade."""

from __future__ import annotations

from codescale.agent.records import Trajectory
from codescale.eval.analysis.messages import opening
from codescale.eval.analysis.run_pages import (RUNNING, context_sources, evidence_view, generations_of, reward_view,
                                               usage_view)
from codescale.eval.runs.rundir import RunDir


def step_view(step) -> dict:
    return {"index": step.index, "thinking": step.thinking, "response": step.response, "action": step.action,
            "observation": step.observation, "returncode": step.returncode, "timed_out": step.timed_out,
            "started_at": step.started_at.isoformat(), "seconds": step.seconds, "model_seconds": step.model_seconds,
            "command_seconds": step.command_seconds, "extensions": step.extensions, "capped": step.capped,
            **usage_view(step.usage)}


def rollout_page(run: RunDir, instance_id: str, traj: Trajectory) -> dict:
    """One rollout of a task. A step's messages as sent are the opening messages, then every earlier step's
    `response` (assistant) and `observation` (user): the page puts them together the way `Trajectory.messages` does."""
    summary = run.summary(instance_id, traj.rollout_id)
    result = run.result(instance_id)
    grade = run.grade(instance_id) if result else None  # a task running again: its grade is of an old answer
    candidate = next((c for c in grade.candidates if c.rollout_id == traj.rollout_id), None) if grade else None
    if candidate is None and grade is not None and grade.final_rollout == traj.rollout_id:
        candidate = grade
    sources = context_sources(generations_of(run, instance_id, result), run.selections(instance_id))
    start = opening(run, traj)
    return {
        "run": run.name, "task": instance_id, "id": traj.rollout_id, "generation": traj.generation, "model": traj.model,
        "status": traj.exit_status or RUNNING, "error": traj.error, "seconds": traj.seconds,
        "final": result is not None and result.final_rollout == traj.rollout_id, **usage_view(traj.usage),
        "notes": traj.notes, "patch": traj.patch, "refinement_context": traj.refinement_context,
        "context_from": sources.get(traj.rollout_id, []),
        "opening": {"messages": start.messages, "source": start.source, "note": start.note},
        "steps": [step_view(s) for s in traj.steps],
        "summary": summary.model_dump(include={"understanding", "hypotheses", "actions", "evidence", "failure_modes",
                                               "final_state", "lessons", "fallback", "error", "empty_reply"})
        if summary else None,
        "resolved": candidate.resolved if candidate else None,
        "failed_tests": candidate.failed_tests if candidate else [], "grade_error": candidate.error if candidate else "",
        "evidence": evidence_view(run, instance_id, traj.rollout_id),
        "reward": reward_view(run, instance_id, traj.rollout_id),
    }
