"""A trajectory as ATIF (Harbor's Agent Trajectory Interchange Format, schema ATIF-v1.6): the opening messages as a
system and a user step, then one agent step per model call, its command as a `bash` tool call and what was sent back
as that call's observation. Harbor's validator accepts the result (tests/test_export.py runs it)."""

from __future__ import annotations

from codescale.agent.records import Step, Trajectory, Usage
from codescale.eval.analysis.messages import Opening

SCHEMA = "ATIF-v1.6"
SOURCES = {"system": "system", "user": "user", "assistant": "agent"}
"""Chat role of an opening message -> ATIF step source."""


def _clean(record: dict) -> dict:
    """The record without its None values (ATIF leaves unknown fields out)."""
    return {k: v for k, v in record.items() if v is not None}


def _metrics(usage: Usage, **extra) -> dict:
    return _clean({"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                   "cached_tokens": usage.cached_input_tokens, "cost_usd": usage.cost_usd,
                   "extra": {"thinking_tokens": usage.thinking_tokens, **extra}})


def agent_step(step: Step, number: int, model: str, call_id: str) -> dict:
    """One model call: its reply, thinking, the command as a tool call, and what was sent back."""
    ran = step.action is not None
    return _clean({
        "step_id": number, "timestamp": step.started_at.isoformat(), "source": "agent", "model_name": model,
        "message": step.response, "reasoning_content": step.thinking or None,
        "tool_calls": [{"tool_call_id": call_id, "function_name": "bash", "arguments": {"command": step.action}}]
        if ran else None,
        "observation": {"results": [_clean({"source_call_id": call_id if ran else None, "content": step.observation})]},
        "metrics": _metrics(step.usage, extensions=step.extensions, capped=step.capped),
        "extra": {"index": step.index, "returncode": step.returncode, "timed_out": step.timed_out,
                  "format_error": not ran, "seconds": step.seconds, "model_seconds": step.model_seconds,
                  "command_seconds": step.command_seconds},
    })


def to_atif(traj: Trajectory, opening: Opening, *, session: str, version: str) -> dict:
    """The ATIF document of one rollout (`opening`: its opening messages, eval/analysis/messages.py)."""
    steps = [_clean({"step_id": n, "timestamp": traj.started_at.isoformat() if SOURCES[m["role"]] == "user" else None,
                     "source": SOURCES[m["role"]], "message": m["content"]})
             for n, m in enumerate(opening.messages, 1)]
    for step in traj.steps:
        steps.append(agent_step(step, len(steps) + 1, traj.model, f"{traj.rollout_id}-{step.index}"))
    notes = list(traj.notes) + ([f"opening messages {opening.source}: {opening.note}"] if opening.note else [])
    return _clean({
        "schema_version": SCHEMA, "session_id": session,
        "agent": {"name": "codescale", "version": version, "model_name": traj.model,
                  "extra": {"config_digest": traj.config_digest}},
        "steps": steps,
        "notes": "\n".join(notes) or None,
        "final_metrics": _clean({"total_prompt_tokens": traj.usage.input_tokens,
                                 "total_completion_tokens": traj.usage.output_tokens,
                                 "total_cached_tokens": traj.usage.cached_input_tokens,
                                 "total_cost_usd": traj.usage.cost_usd, "total_steps": len(steps),
                                 "extra": {"requests": traj.usage.requests, "thinking_tokens": traj.usage.thinking_tokens}}),
        "extra": {"task_id": traj.task_id, "rollout_id": traj.rollout_id, "generation": traj.generation,
                  "exit_status": traj.exit_status, "error": traj.error, "patch": traj.patch,
                  "seconds": traj.seconds, "opening": opening.source},
    })
