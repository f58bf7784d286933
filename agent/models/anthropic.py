"""Anthropic Messages API."""

from __future__ import annotations

from typing import Any

from codescale.agent.models.base import (
    Completion,
    ModelConfig,
    RetryableError,
    api_key,
    note,
    sdk_errors,
)
from codescale.agent.models.catalog import model_info
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.records import Usage

MIN_BUDGET = 1024
"""Smallest `budget_tokens` the Messages API accepts."""

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
"""Anthropic stop reasons in OpenAI's words; others pass through."""


class AnthropicProvider:
    """Translates a call to `messages.create`; system messages go to `system`, n > 1 is n requests."""

    key_variable = "ANTHROPIC_API_KEY"

    def __init__(self, config: ModelConfig):
        import anthropic

        self.config = config
        self.info = model_info(config.name)
        self.notes: list[str] = []
        self.client = anthropic.Anthropic(
            api_key=api_key(config, self.key_variable), base_url=config.base_url, timeout=config.timeout, max_retries=0
        )

    def request(
        self,
        messages: list[dict],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        thinking: ThinkingConfig | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments of one `messages.create` call."""
        system = [m["content"] for m in messages if m["role"] == "system"]
        turns = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
        kwargs: dict[str, Any] = {"model": self.config.name, "messages": turns, "max_tokens": max_tokens}
        if system:
            kwargs["system"] = "\n\n".join(system)
        if stop:
            kwargs["stop_sequences"] = stop
        # The SDK no longer takes a temperature; the API still does for the models whose row says so.
        extra = {"temperature": temperature} if self.info.temperature else {}
        if thinking is not None and thinking.max_tokens == 0:
            kwargs["thinking"] = {"type": "disabled"}
        elif thinking is not None:
            budget = self.budget(thinking, max_tokens)
            kwargs["thinking"] = {"type": "enabled", "budget_tokens": budget}
            kwargs["max_tokens"] = max_tokens + budget  # max_tokens counts thinking too; the answer keeps its cap
            if extra and temperature != 1:
                note(self.notes, f"{self.config.id}: temperature {temperature:g} is not sent: extended thinking takes none")
            extra = {}
        if extra or self.config.extra_body:
            kwargs["extra_body"] = {**extra, **self.config.extra_body}
        return kwargs

    def budget(self, thinking: ThinkingConfig, max_tokens: int) -> int:
        """`budget_tokens` for a thinking setting: its cap (else the call's max_tokens), at least the API minimum."""
        budget = max_tokens if thinking.max_tokens is None else thinking.max_tokens
        if budget < MIN_BUDGET:
            message = f"thinking.max_tokens={budget} raised to budget_tokens={MIN_BUDGET}, the API minimum"
            note(self.notes, f"{self.config.id}: {message}")
            budget = MIN_BUDGET
        if thinking.min_tokens:
            note(self.notes, f"{self.config.id}: a thinking minimum is not supported by extended thinking; ignored")
        if thinking.strategy == "forced":
            note(self.notes, f"{self.config.id}: forced thinking is not possible on Anthropic; budget_tokens used")
        return budget

    def generate(
        self,
        messages: list[dict],
        *,
        n: int,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        thinking: ThinkingConfig | None,
    ) -> list[Completion]:
        kwargs = self.request(messages, max_tokens=max_tokens, temperature=temperature, stop=stop, thinking=thinking)
        completions = [self.parse(self.call(kwargs)) for _ in range(n)]
        budget = kwargs.get("thinking", {}).get("budget_tokens")
        for c in completions if budget else []:
            c.capped = c.usage.thinking_tokens >= budget
        return completions

    def call(self, kwargs: dict[str, Any]) -> Any:
        """One request; SDK errors become RetryableError or ModelError."""
        import anthropic

        with sdk_errors(anthropic, self.config.id, timeout=self.config.timeout, base_url=self.client.base_url,
                        key_variable=self.key_variable):
            response = self.client.messages.create(**kwargs)
        if not isinstance(getattr(response, "content", None), list):
            raise RetryableError(f"{self.config.id}: reply without content")
        return response

    def parse(self, response: Any) -> Completion:
        text = "".join(block.text for block in response.content if block.type == "text")
        thinking = "\n".join(block.thinking for block in response.content if block.type == "thinking")
        reason = response.stop_reason or ""
        return Completion(
            text=text, thinking=thinking, usage=_usage(response.usage), finish_reason=FINISH_REASONS.get(reason, reason)
        )


def _usage(usage: Any) -> Usage:
    """Input tokens count cache reads and writes too (Anthropic reports them apart)."""
    cached = usage.cache_read_input_tokens or 0
    details = getattr(usage, "output_tokens_details", None)
    return Usage(
        input_tokens=usage.input_tokens + cached + (usage.cache_creation_input_tokens or 0),
        output_tokens=usage.output_tokens,
        cached_input_tokens=cached,
        thinking_tokens=(details and details.thinking_tokens) or 0,
        requests=1,
    )
