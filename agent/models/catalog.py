"""Rows of configs/models.yaml: what a model costs and which request parameters it takes."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from codescale import configs
from codescale.agent.records import Usage

CATALOG = Path(configs.__file__).parent / "models.yaml"


class ModelInfo(BaseModel):
    """One model's row; an unknown model gets the defaults (no price, every parameter accepted)."""

    model_config = ConfigDict(extra="forbid")

    input: float | None = None
    """USD per million uncached input tokens."""
    output: float | None = None
    """USD per million output tokens, thinking included."""
    cached_input: float | None = None
    """USD per million input tokens read from the prompt cache; the input price when absent."""
    temperature: bool | None = None
    """Whether the model takes a temperature; None: the backend's default (sent by openai and vllm,
    not by anthropic, whose newer models reject it)."""
    stop: bool = True
    """Whether the model takes stop sequences (left out, with a warning, when not)."""
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """Name of the output cap in an OpenAI chat request."""
    thinking: Literal["budget", "effort", "native"] | None = None
    """How thinking is controlled: Anthropic `budget` tokens, OpenAI reasoning `effort`, a vLLM server's
    `native` per-request `thinking_token_budget`, or (None) by the backend's own means (vllm: budget forcing by
    the server's template rendering the generation prompt, the prefill continued on raw completions; openai:
    not at all)."""
    efforts: list[str] | None = None
    """The `reasoning_effort` values the model accepts (None: any)."""
    reply_tokens: int | None = None
    """Default cap on a judge's or summarizer's reply (reasoning models count thinking in it); None: 2048."""
    think_open: str = "<think>"
    """Tag that opens the model's thinking (budget forcing)."""
    think_close: str = "</think>"
    """Tag that closes the model's thinking (budget forcing)."""
    thinks: bool = True
    """False: the model does not think, so a thinking setting is not attempted (noted once); a model that ends its
    turn inside the thinking phase is found out at its first forced call anyway."""
    context_window: int | None = None
    """Tokens one request may hold, prompt and reply (None: the server is asked, else a default; see
    agent/models/window.py)."""
    chat_template: str | None = None
    """Name of a template in `chat_templates` of configs/models.yaml: with it, the openai backend forces thinking
    through the raw completions endpoint (for servers that cannot continue an assistant message)."""

    def cost(self, usage: Usage) -> float | None:
        """USD for `usage`, or None when this model has no price."""
        if self.input is None or self.output is None:
            return None
        cached = self.input if self.cached_input is None else self.cached_input
        uncached = usage.input_tokens - usage.cached_input_tokens
        return (uncached * self.input + usage.cached_input_tokens * cached + usage.output_tokens * self.output) / 1e6


@functools.cache
def catalog(path: Path = CATALOG) -> dict[str, ModelInfo]:
    rows = yaml.safe_load(Path(path).read_text())["models"]
    return {name: ModelInfo.model_validate(row or {}) for name, row in rows.items()}


def model_info(name: str) -> ModelInfo:
    """The row for `name` (the model id after the backend), also found for dated snapshots
    like `claude-sonnet-4-5-20250929` or `gpt-5-mini-2025-08-07`; defaults when there is none."""
    rows = catalog()
    undated = re.sub(r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "", name)
    return rows.get(name) or rows.get(undated) or ModelInfo()
