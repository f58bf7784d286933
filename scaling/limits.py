"""The reply cap of a judge or summarizer call: one that leaves a reasoning model room to answer after thinking."""

from __future__ import annotations

from codescale.agent.models.catalog import ModelInfo
from codescale.agent.models.thinking import ThinkingConfig

ANSWER_TOKENS = 2048
"""Room for the visible answer (a vote's comparison, a summary) on top of any thinking."""


def reply_cap(configured: int | None, info: ModelInfo, thinking: ThinkingConfig | None) -> int:
    """`configured` when set; else a thinking cap plus room to answer; else the model row's `reply_tokens`
    (reasoning models count thinking in the cap), else ANSWER_TOKENS."""
    if configured is not None:
        return configured
    if thinking is not None and thinking.max_tokens is not None:
        return thinking.max_tokens + ANSWER_TOKENS
    return info.reply_tokens or ANSWER_TOKENS
