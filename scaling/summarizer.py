"""Trajectory -> Summary: an LLM call on the compressed trajectory, or a deterministic fallback.

The compressed trajectory fits the summarizer's own window: `max_input_tokens`, lowered when the window holds less
with the prompt and the reply. A rollout whose steps do not all fit is read through a summary of its earlier steps:
its latest condensation, or (`overflow: chunk`) one written here chunk by chunk (scaling/chunks.py). Each summary
records its compression ratio (summary tokens / trajectory tokens, both estimated)."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs
from codescale.agent.models.base import Model, ModelConfig, ModelError
from codescale.agent.models.spending import Spending
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.compact import clip, estimate_tokens
from codescale.agent.context import SURELY_FITS, estimate
from codescale.agent.records import Task, Trajectory, Usage
from codescale.agent.sections import SUMMARY_SECTIONS, THINK, bound_words, parse_sections
from codescale.agent.templates import SharedKey, fresh_key, render
from codescale.scaling.chunks import condense_chunks
from codescale.scaling.compression import (
    Condensed, compress, fits, frame, last_test_step, rendered_steps, trajectory_tokens,
)
from codescale.scaling.limits import reply_cap
from codescale.scaling.records import Summary

log = logging.getLogger(__name__)


def _prompts() -> dict:
    return configs.load("scaling")["scaling"]["summarizer"]


class SummarizerConfig(BaseModel):
    """Who summarizes and how much. Prompt defaults come from configs/scaling.yaml."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig | None = None
    """The summarizer's model; None = the agent's model."""
    max_words: int = 500
    """Length bound of a summary, asked for in the prompt and enforced by trimming sections."""
    max_input_tokens: int = 24000
    """Bound on the compressed trajectory in the prompt, in ESTIMATED tokens (characters / 4); lowered to fit the
    summarizer's context window with its prompt and reply."""
    overflow: Literal["chunk", "cut"] = "chunk"
    """Steps that do not fit the bound in a rollout without condensations: `chunk` (the earlier ones condensed chunk
    by chunk first, one call per chunk, with the condensation prompts of configs/agent.yaml) or `cut` (the middle
    ones left out)."""
    max_tokens: int | None = None
    """Cap on the summarizer's reply; None: fitted to the model (scaling/limits.py: thinking cap + 2048, else the
    model row's `reply_tokens`, else 2048)."""
    temperature: float = 0.0
    thinking: ThinkingConfig | None = None
    """Budget forcing of summarizer calls; None = the model's default thinking."""
    system_template: str = Field(default_factory=lambda: _prompts()["system_template"])
    instance_template: str = Field(default_factory=lambda: _prompts()["instance_template"])


def fallback_summary(task: Task, traj: Trajectory, error: str) -> Summary:
    """A summary built from the trajectory alone: commands, last test output, diff stat, exit status."""
    commands = [s.action for s in traj.steps if s.action]
    shown = commands if len(commands) <= 8 else commands[:3] + ["..."] + commands[-4:]
    test = last_test_step(traj)
    submitted = "Submitted" if traj.exit_status == "submitted" else "Not submitted"
    return Summary(
        task_id=task.instance_id,
        rollout_id=traj.rollout_id,
        actions=f"{len(traj.steps)} steps, {len(commands)} commands:\n" + "\n".join(f"- `{clip(c, 200)}`" for c in shown),
        evidence=f"Last test run: `{clip(test.action or '', 200)}`\n{clip(test.observation, 1500)}" if test else "No test run seen.",
        failure_modes=clip(traj.error, 500),
        final_state=f"{submitted} (exit status {traj.exit_status}).\n{task.outcome_lines(traj)}",
        fallback=True,
        error=error,
    )


class Summarizer:
    """Summarizes finished rollouts of a task; never raises for a failed model call (falls back)."""

    def __init__(self, config: SummarizerConfig, model: ModelConfig, spending: Spending | None = None):
        self.config = config
        self.model = Model(config.model or model, spending)
        self.max_tokens = reply_cap(config.max_tokens, self.model.info, config.thinking)
        self.issue_keys = SharedKey()
        """The key of the issue's block, one per task: every summary request of a task shares its prompt up to the
        attempt."""

    def messages(self, task: Task, trajectory: str) -> list[dict]:
        issue_key = self.issue_keys(task.instance_id, task.problem_statement, trajectory)
        prompt = render(
            self.config.instance_template,
            task=task,
            trajectory=trajectory,
            issue_key=issue_key,
            key=fresh_key(task.problem_statement, trajectory, issue_key),
            max_words=self.config.max_words,
            sections=list(SUMMARY_SECTIONS.values()),
        )
        return [{"role": "system", "content": render(self.config.system_template)}, {"role": "user", "content": prompt}]

    def input_bound(self, task: Task, traj: Trajectory) -> int:
        """`max_input_tokens`, lowered when the summarizer's window holds less with the prompt around the trajectory
        and the reply (estimated, with a fifth to spare); the window is looked up only for a prompt longer than any
        window's worth."""
        bound = self.config.max_input_tokens
        around = estimate(self.messages(task, ""))
        if around + estimate_tokens(compress(traj, max_tokens=bound, with_diff=task.takes_diff)) <= SURELY_FITS:
            return bound
        room = int(0.8 * (self.model.context_window - self.max_tokens)) - around
        return max(512, min(bound, room))

    def earlier_steps(self, task: Task, traj: Trajectory, bound: int) -> tuple[Condensed | None, Usage, int]:
        """A summary of the steps that do not fit `bound`, written chunk by chunk (None when they all fit, when the
        rollout has its own condensations, or with `overflow: cut`); its calls' usage and their number."""
        if traj.condensations or self.config.overflow == "cut":
            return None, Usage(), 0
        _, _, _, room = frame(traj, bound, task.takes_diff)
        if fits(rendered_steps(traj), room):
            return None, Usage(), 0
        return condense_chunks(task, traj, self.model, room=room, bound=bound, max_words=self.config.max_words,
                               max_tokens=self.max_tokens)

    def summarize(self, task: Task, traj: Trajectory) -> Summary:
        summary = self.write(task, traj)
        summary.trajectory_tokens, summary.summary_tokens = trajectory_tokens(traj), estimate_tokens(summary.markdown())
        return summary

    def write(self, task: Task, traj: Trajectory) -> Summary:
        if not traj.steps:
            return fallback_summary(task, traj, "the rollout has no steps")
        bound = self.input_bound(task, traj)
        condensed, spent, chunks = self.earlier_steps(task, traj, bound)
        trajectory = compress(traj, max_tokens=bound, with_diff=task.takes_diff, condensed=condensed)
        try:
            (completion,) = self.model.complete(
                self.messages(task, trajectory),
                max_tokens=self.max_tokens,
                temperature=self.config.temperature,
                thinking=self.config.thinking,
            )
        except ModelError as e:
            log.warning("summary of %s: model call failed, using the fallback: %s", traj.rollout_id, e)
            summary = fallback_summary(task, traj, f"summarizer call failed: {e}")
            summary.usage, summary.chunks = spent, chunks
            return summary
        usage = completion.usage + spent
        fields = parse_sections(completion.text)
        if not any(fields.values()):
            empty = not THINK.sub("", completion.text).strip()
            reason = f"the summarizer's reply was empty (cap {self.max_tokens} tokens)" if empty else "the summarizer's reply had no sections"
            log.warning("summary of %s: %s, using the fallback", traj.rollout_id, reason)
            summary = fallback_summary(task, traj, reason)
            summary.usage, summary.empty_reply, summary.chunks = usage, empty, chunks
            return summary
        fields = bound_words(fields, self.config.max_words)
        return Summary(task_id=task.instance_id, rollout_id=traj.rollout_id, usage=usage, chunks=chunks, **fields)
