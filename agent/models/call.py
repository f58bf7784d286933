"""One model call as it crosses the provider boundary: the `Request` every provider receives, the `Completion`s it
returns, and the `Provider` contract with the capabilities a provider declares as data.

A provider only translates: a Request (its thinking control already decided by the policy,
agent/models/thinking_policy.py) into its SDK's request, the reply into Completions, and its errors into
RetryableError or ModelError (agent/models/base.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel, Field

from codescale.agent.models.thinking import Continue
from codescale.agent.records import Usage


@dataclass(frozen=True)
class ThinkingControl:
    """What one request sends to control thinking, as the policy decided it; a provider translates the field its
    `thinking_control` names and is never handed the others."""

    budget_tokens: int | None = None
    """Anthropic extended thinking: `budget_tokens` (0: thinking disabled)."""
    effort: str | None = None
    """OpenAI reasoning models: `reasoning_effort`."""
    native_cap: int | None = None
    """A vLLM server's own cap on thinking tokens (`thinking_token_budget`), in one request."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """One call as every provider receives it, defaults resolved by the Model."""

    messages: list[dict]
    """The conversation, plain dicts in the OpenAI shape."""
    n: int = 1
    """Samples wanted."""
    max_tokens: int
    """Cap on generated tokens (on the answer: a thinking budget comes on top where the API counts both)."""
    temperature: float
    """Sampling temperature (sent where the model row says the model takes one)."""
    stop: list[str] | None = None
    """Strings that end a reply."""
    thinking: ThinkingControl | None = None
    """How the request controls thinking; None: it does not."""
    cache: bool = False
    """The caller will send this prompt again, or extend it (an agent's next step, a judge's next vote): a provider
    with explicit prompt caching (Anthropic) marks its end for the cache."""


class Completion(BaseModel):
    """One sampled reply."""

    text: str
    thinking: str = ""
    usage: Usage = Field(default_factory=Usage)
    """Usage of the request that produced it; with n > 1 only the first completion carries it."""
    finish_reason: str = ""
    """In OpenAI's words: `stop`, `length`, ... (providers map their own onto these)."""
    extensions: int = 0
    """Budget forcing: how many times thinking was extended."""
    capped: bool = False
    """Budget forcing: whether thinking was cut at its maximum."""


class Provider(Protocol):
    """Translates a Request to an SDK request and its reply to Completions; raises RetryableError or ModelError.
    Built as `Provider(config, notes, endpoint)`: `notes` is the Model's list of settings it could not honour,
    `endpoint` where its requests go and with which key (providers.py).

    Two methods are optional, looked up where they are used: `server_window() -> int | None`, the context window its
    server says it holds (agent/models/window.py), and `count_messages(messages) -> int`, the tokens of a request by
    the server's own tokenizer (vLLM's /tokenize)."""

    thinking_control: ClassVar[Literal["budget", "effort", "native"] | None]
    """The field of ThinkingControl its requests can carry (Anthropic budget, OpenAI effort, vLLM native cap)."""
    continues: ClassVar[Literal["server", "row"] | None]
    """How it continues a prefilled assistant text (budget forcing): a prompt rendered by the `server`'s own chat
    template, or by the model `row`'s template applied on the client (only for rows that name one); None: not."""
    min_budget: ClassVar[int]
    """Where `thinking_control` is budget: the smallest budget the API accepts."""
    notes: list[str]

    def generate(self, request: Request) -> list[Completion]: ...

    def continuation(self, messages: list[dict], temperature: float) -> tuple[Continue, str]:
        """Where `continues`: one generation after a prefill, and the generation prompt it follows."""
        ...

    def count_tokens(self, text: str) -> int:
        """Where `thinking_control` is native: tokens of `text` by the server's tokenizer."""
        ...
