"""Anthropic Messages API."""

from __future__ import annotations

from typing import Any

from codescale.agent.models.base import ModelConfig, RetryableError, api_key, sdk_call
from codescale.agent.models.call import Completion, Request
from codescale.agent.models.catalog import model_info
from codescale.agent.models.notes import note
from codescale.agent.models.providers import Endpoint
from codescale.agent.records import Usage

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
"""Anthropic stop reasons in OpenAI's words; others pass through."""


class AnthropicProvider:
    """Translates a call to `messages.create`; system messages go to `system`, n > 1 is n requests."""

    thinking_control = "budget"
    continues = None
    min_budget = 1024
    """Smallest `budget_tokens` the Messages API accepts."""

    def __init__(self, config: ModelConfig, notes: list[str], endpoint: Endpoint):
        self.config = config
        self.info = model_info(config.id)
        self.notes = notes
        self.key_variable = endpoint.key_variable or ""
        self.client = self.make_client(endpoint)

    def make_client(self, endpoint: Endpoint) -> Any:
        """The SDK client (its own retries off)."""
        import anthropic

        return anthropic.Anthropic(api_key=api_key(endpoint, self.config.id), base_url=endpoint.base_url,
                                   timeout=self.config.timeout, max_retries=0)

    def generate(self, request: Request) -> list[Completion]:
        kwargs = self.request(request)
        return [self.parse(self.call(kwargs)) for _ in range(request.n)]

    def request(self, request: Request) -> dict[str, Any]:
        """Keyword arguments of one `messages.create` call."""
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        turns = [{"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"]
        kwargs: dict[str, Any] = {"model": self.config.name, "messages": turns, "max_tokens": request.max_tokens}
        if system:
            kwargs["system"] = system
        if self.config.prompt_cache:
            kwargs.update(cache_points(system, turns, reused=request.cache))
        if request.stop:
            kwargs["stop_sequences"] = request.stop
        # The SDK no longer takes a temperature; the API still does for the models whose row says so.
        extra = {"temperature": request.temperature} if self.info.temperature else {}
        budget = request.thinking.budget_tokens if request.thinking is not None else None
        if budget == 0:
            kwargs["thinking"] = {"type": "disabled"}
        elif budget is not None:
            kwargs["thinking"] = {"type": "enabled", "budget_tokens": budget}
            kwargs["max_tokens"] = request.max_tokens + budget  # it counts thinking too; the answer keeps its cap
            if extra and request.temperature != 1:
                note(self.notes, f"{self.config.id}: temperature {request.temperature:g} is not sent: extended "
                                 "thinking takes none")
            extra = {}
        if extra or self.config.extra_body:
            kwargs["extra_body"] = {**extra, **self.config.extra_body}
        return kwargs

    def call(self, kwargs: dict[str, Any]) -> Any:
        """One request; SDK errors become RetryableError or ModelError."""
        import anthropic

        with sdk_call(anthropic, self.config.id, timeout=self.config.timeout, base_url=self.client.base_url,
                        key_variable=self.key_variable):
            response = self.client.messages.create(**kwargs)
        if not isinstance(getattr(response, "content", None), list):
            raise RetryableError(f"{self.config.id}: reply without content")
        return response

    def parse(self, response: Any) -> Completion:
        text = "".join(block.text for block in response.content if block.type == "text")
        thinking = "\n".join(block.thinking for block in response.content if block.type == "thinking")
        reason = response.stop_reason or ""
        usage = _usage(response.usage)
        reported = getattr(response.usage, "output_tokens_details", None)
        if reported is not None:
            usage.thinking_tokens = reported.thinking_tokens
        elif any(block.type in ("thinking", "redacted_thinking") for block in response.content):
            usage.thinking_tokens = thinking_estimate(usage.output_tokens, text)
            note(self.notes, f"{self.config.id}: the server reports no thinking token count; thinking tokens are "
                             f"the output tokens less the answer's estimated tokens (characters / {CHARS_PER_TOKEN})")
        return Completion(text=text, thinking=thinking, usage=usage, finish_reason=FINISH_REASONS.get(reason, reason))


MAX_CACHE_POINTS = 4
"""Anthropic accepts at most this many `cache_control` breakpoints in one request."""


def cache_points(system: str, turns: list[dict], *, reused: bool) -> dict[str, Any]:
    """`system` and `messages` with cache breakpoints on the stable prefix: the system prompt always; when the prompt
    will be sent again, or extended (`reused`: an agent's next step, a judge's next vote), also the first user turn
    (the instance) and the last two user turns, so that each request reads the cache entry the one before it wrote
    and writes the new turns. At most MAX_CACHE_POINTS; a prefix too short for the model's cache is sent uncached at
    no extra cost."""
    users = [i for i, turn in enumerate(turns) if turn["role"] == "user"]
    points = sorted({users[0], *users[-2:]}) if reused and users else []
    assert len(points) + 1 <= MAX_CACHE_POINTS
    marked = [{**turn, "content": cached(turn["content"])} if i in points else turn for i, turn in enumerate(turns)]
    return {"messages": marked, **({"system": cached(system)} if system else {})}


def cached(text: str) -> list[dict]:
    """One text block marked as the end of a prefix to cache (the default, 5-minute, cache)."""
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


CHARS_PER_TOKEN = 4
"""Characters per token of the estimate of an answer's tokens, where the server does not split its output count."""


def thinking_estimate(output_tokens: int, answer: str) -> int:
    """Thinking tokens of a reply whose output count (thinking and answer together) is not split: the output tokens
    less the answer's estimated tokens. Exact when there is no answer (thinking was cut at the reply's cap)."""
    return max(0, output_tokens - -(-len(answer) // CHARS_PER_TOKEN))


def _usage(usage: Any) -> Usage:
    """Input tokens count cache reads and writes too (Anthropic reports them apart)."""
    read, written = usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0
    return Usage(
        input_tokens=usage.input_tokens + read + written,
        output_tokens=usage.output_tokens,
        cached_input_tokens=read,
        cache_write_tokens=written,
        requests=1,
    )
