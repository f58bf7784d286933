"""Trajectory -> Summary: an LLM call on the compressed trajectory, or a deterministic fallback."""

from __future__ import annotations

import logging
import re

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs
from codescale.agent.models.base import Model, ModelConfig, ModelError
from codescale.agent.models.spending import Spending
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.records import Task, Trajectory
from codescale.agent.templates import render
from codescale.scaling.compression import clip, compress, last_test_step
from codescale.scaling.limits import reply_cap
from codescale.scaling.records import SUMMARY_SECTIONS, Summary

log = logging.getLogger(__name__)

HEADING = re.compile(r"^##\s+(.+?)\s*$")
THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


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
    """Bound on the compressed trajectory in the prompt, in ESTIMATED tokens (characters / 4)."""
    max_tokens: int | None = None
    """Cap on the summarizer's reply; None: fitted to the model (scaling/limits.py: thinking cap + 2048, else the
    model row's `reply_tokens`, else 2048)."""
    temperature: float = 0.0
    thinking: ThinkingConfig | None = None
    """Budget forcing of summarizer calls; None = the model's default thinking."""
    system_template: str = Field(default_factory=lambda: _prompts()["system_template"])
    instance_template: str = Field(default_factory=lambda: _prompts()["instance_template"])


def parse_sections(text: str) -> dict[str, str]:
    """Summary fields from `## <heading>` sections (headings matched case-insensitively; unknown ones
    and text before the first heading are ignored). Thinking in `<think>` tags is dropped first."""
    by_heading = {heading.lower(): field for field, heading in SUMMARY_SECTIONS.items()}
    sections: dict[str, list[str]] = {}
    current = None
    for line in THINK.sub("", text).splitlines():
        match = HEADING.match(line)
        if match:
            name = re.sub(r"[^a-z ]", "", match.group(1).lower()).strip()
            current = by_heading.get(name)
            if current:
                sections.setdefault(current, [])
            continue
        if current:
            sections[current].append(line)
    return {field: "\n".join(lines).strip() for field, lines in sections.items()}


def bound_words(fields: dict[str, str], max_words: int) -> dict[str, str]:
    """Trim every field in proportion so that the total is at most about `max_words` words."""
    total = sum(len(v.split()) for v in fields.values())
    if total <= max_words:
        return fields
    scale = max_words / total
    out = {}
    for field, value in fields.items():
        words = value.split()
        keep = max(10, int(len(words) * scale))
        out[field] = value if len(words) <= keep else " ".join(words[:keep]) + " [...]"
    return out


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

    def messages(self, task: Task, traj: Trajectory) -> list[dict]:
        prompt = render(
            self.config.instance_template,
            task=task,
            trajectory=compress(traj, max_tokens=self.config.max_input_tokens, with_diff=task.takes_diff),
            max_words=self.config.max_words,
            sections=list(SUMMARY_SECTIONS.values()),
        )
        return [{"role": "system", "content": render(self.config.system_template)}, {"role": "user", "content": prompt}]

    def summarize(self, task: Task, traj: Trajectory) -> Summary:
        if not traj.steps:
            return fallback_summary(task, traj, "the rollout has no steps")
        try:
            (completion,) = self.model.complete(
                self.messages(task, traj),
                max_tokens=self.max_tokens,
                temperature=self.config.temperature,
                thinking=self.config.thinking,
            )
        except ModelError as e:
            log.warning("summary of %s: model call failed, using the fallback: %s", traj.rollout_id, e)
            return fallback_summary(task, traj, f"summarizer call failed: {e}")
        fields = parse_sections(completion.text)
        if not any(fields.values()):
            empty = not THINK.sub("", completion.text).strip()
            reason = f"the summarizer's reply was empty (cap {self.max_tokens} tokens)" if empty else "the summarizer's reply had no sections"
            log.warning("summary of %s: %s, using the fallback", traj.rollout_id, reason)
            summary = fallback_summary(task, traj, reason)
            summary.usage, summary.empty_reply = completion.usage, empty
            return summary
        fields = bound_words(fields, self.config.max_words)
        return Summary(task_id=task.instance_id, rollout_id=traj.rollout_id, usage=completion.usage, **fields)
