"""Condensing a running rollout: older steps written up as a structured summary (the sections of the trajectory
summaries, agent/sections.py) by the condensing model, or, when that call fails, from the steps alone.

The prompts are in configs/agent.yaml (`agent.condense`). A condensation folds in the one before it, so the latest
one always covers every step up to its last.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs
from codescale.agent.compact import CHARS_PER_TOKEN, clip, estimate_tokens, keep_ends, render_step
from codescale.agent.models.base import Model, ModelConfig, ModelError
from codescale.agent.records import Step, Task, Usage
from codescale.agent.sections import SUMMARY_SECTIONS, bound_words, parse_sections, sections_markdown
from codescale.agent.templates import fresh_key, render

log = logging.getLogger(__name__)


def _prompts() -> dict:
    return configs.load("agent")["agent"]["condense"]


class CondenseConfig(BaseModel):
    """When and how older steps are condensed (`agent.context: condense`). Prompts come from configs/agent.yaml."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(0.8, gt=0, le=1)
    """Condense before a request (its prompt and room for the reply) would pass this fraction of the window."""
    keep_steps: int = Field(4, ge=0)
    """The latest steps kept verbatim after a condensation (fewer when the request does not fit with them)."""
    model: ModelConfig | None = None
    """The model that writes condensations; None: the run's summarizer model (`scaling.summarizer.model`) when one
    is set, else the agent's."""
    max_words: int = 500
    """Length bound of a condensation, asked for in the prompt and enforced by trimming sections."""
    max_tokens: int = 2048
    """Cap on the condensing call's reply."""
    max_input_tokens: int | None = None
    """Bound on the steps shown to the condensing model, in estimated tokens; None: half its context window."""
    system_template: str = Field(default_factory=lambda: _prompts()["system_template"])
    instance_template: str = Field(default_factory=lambda: _prompts()["instance_template"])
    message_template: str = Field(default_factory=lambda: _prompts()["message_template"])


@dataclass
class Written:
    """One condensation as written: its sections in Markdown, the call's usage, and whether it is the fallback."""

    summary: str
    usage: Usage = field(default_factory=Usage)
    fallback: bool = False
    error: str = ""


class Condenser:
    """Writes condensations of one rollout's steps; never raises for a failed model call (falls back)."""

    def __init__(self, config: CondenseConfig, model: Model):
        self.config = config
        self.model = model

    def write(self, task: Task, previous: str, steps: list[Step]) -> Written:
        """A summary of everything up to `steps[-1]`: the `previous` summary (of the steps before these, '' for none)
        and these steps."""
        try:
            (completion,) = self.model.complete(
                self.messages(task, previous, steps), max_tokens=self.config.max_tokens, temperature=0.0
            )
        except ModelError as e:
            log.warning("condensing steps %d-%d failed, using the fallback: %s", steps[0].index, steps[-1].index, e)
            return self.fallback(previous, steps, f"the condensing call failed: {e}")
        fields = parse_sections(completion.text)
        if not any(fields.values()):
            written = self.fallback(previous, steps, "the condensing reply had no sections")
            written.usage = completion.usage
            return written
        return Written(sections_markdown(bound_words(fields, self.config.max_words)), completion.usage)

    def messages(self, task: Task, previous: str, steps: list[Step]) -> list[dict]:
        bound = self.config.max_input_tokens or self.model.context_window // 2
        budget = max(0, bound - estimate_tokens(previous) - 1000) * CHARS_PER_TOKEN  # 1000 tokens for the prompt
        shown = keep_ends([render_step(s, reasoning_chars=1500, output_chars=2000) for s in steps], budget)
        text = "\n\n".join(shown)
        prompt = render(
            self.config.instance_template, task=task, previous=previous, steps=text,
            key=fresh_key(task.problem_statement, previous, text),
            first=steps[0].index, last=steps[-1].index, max_words=self.config.max_words,
            sections=list(SUMMARY_SECTIONS.values()),
        )
        return [{"role": "system", "content": render(self.config.system_template)}, {"role": "user", "content": prompt}]

    def fallback(self, previous: str, steps: list[Step], error: str) -> Written:
        """Written from the steps alone: their commands and the last output, after the previous summary."""
        commands = [f"- step {s.index}: `{clip(s.action, 200)}` (exit {s.returncode})" for s in steps if s.action]
        shown = commands if len(commands) <= 20 else commands[:5] + ["- ..."] + commands[-15:]
        last = steps[-1]
        fields = {
            "actions": f"Steps {steps[0].index} to {last.index}:\n" + "\n".join(shown),
            "evidence": f"Output of step {last.index}:\n{clip(last.observation, 1500)}",
        }
        earlier = parse_sections(previous)
        merged = {f: "\n\n".join(v for v in (earlier.get(f, ""), fields.get(f, "")) if v) for f in SUMMARY_SECTIONS}
        return Written(sections_markdown(bound_words(merged, self.config.max_words)), fallback=True, error=error)


def condensing_model(config: CondenseConfig, agent_model: Model) -> Model:
    """The model that writes condensations: its own when configured, else the agent's."""
    return Model(config.model) if config.model is not None else agent_model
