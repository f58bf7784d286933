"""The Model contract and the one wrapper that owns retries and usage accounting.

A provider (openai.py, anthropic.py, vllm.py) only translates to and from its SDK and
classifies errors as `RetryableError` or `ModelError`; `Model` does the rest.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from agent.records import Usage

log = logging.getLogger(__name__)


class Completion(BaseModel):
    """One sampled reply."""

    text: str
    thinking: str = ""
    usage: Usage = Field(default_factory=Usage)
    """Usage of the request that produced it; with n > 1 only the first completion carries it."""
    finish_reason: str = ""
    extensions: int = 0
    """Budget forcing: how many times thinking was extended."""
    capped: bool = False
    """Budget forcing: whether thinking was cut at its maximum."""


class ModelError(Exception):
    """A model call that failed for good (bad request, auth, unknown model, retries exhausted)."""


class RetryableError(ModelError):
    """A model call worth retrying (429, 5xx, timeout, connection error)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = 6
    """Tries per call, the first included."""
    max_seconds: float = 600.0
    """Give up retrying once this much time has passed since the first try."""
    min_wait: float = 1.0
    """First back-off in seconds; doubles each retry (Retry-After wins when the server sends it)."""
    max_wait: float = 60.0
    """Longest single back-off in seconds."""


class ModelConfig(BaseModel):
    """Which model to call and how."""

    model_config = ConfigDict(extra="forbid")

    id: str = "openai/gpt-5-mini"
    """`backend/name`, e.g. `anthropic/claude-sonnet-4-5`, `vllm/Qwen/Qwen3-Coder-30B-A3B-Instruct`."""
    base_url: str | None = None
    """Server URL for OpenAI-compatible servers (vLLM, llama.cpp, proxies)."""
    temperature: float = 0.0
    max_tokens: int = 4096
    """Cap on generated tokens per call."""
    timeout: float = 300.0
    """Seconds one HTTP request may take before it counts as hung and is retried."""
    retries: RetryConfig = Field(default_factory=RetryConfig)
    extra_body: dict[str, Any] = {}
    """Extra provider-specific request fields, passed through as they are."""

    @property
    def backend(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1] if "/" in self.id else ""


class Provider(Protocol):
    """Translates one call to an SDK request; raises RetryableError or ModelError."""

    def generate(
        self, messages: list[dict], *, n: int, max_tokens: int, temperature: float, stop: list[str] | None, thinking: Any
    ) -> list[Completion]: ...


PROVIDERS = {
    "openai": "agent.models.openai.OpenAIProvider",
    "anthropic": "agent.models.anthropic.AnthropicProvider",
    "vllm": "agent.models.vllm.VLLMProvider",
}


def _wait(config: RetryConfig):
    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        backoff = min(config.max_wait, config.min_wait * 2 ** (state.attempt_number - 1))
        retry_after = getattr(error, "retry_after", None)
        return min(config.max_wait, retry_after) if retry_after is not None else backoff

    return wait


class Model:
    """A model client: `complete()` with bounded retries, and usage summed over every call."""

    def __init__(self, config: ModelConfig):
        self.config = config
        if config.backend not in PROVIDERS or not config.name:
            raise ValueError(
                f"unknown model id {config.id!r}: expected BACKEND/NAME with BACKEND one of {', '.join(sorted(PROVIDERS))}"
            )
        module, _, cls = PROVIDERS[config.backend].rpartition(".")
        self.provider: Provider = getattr(importlib.import_module(module), cls)(config)
        self.usage = Usage()
        self._lock = threading.Lock()

    def complete(
        self,
        messages: list[dict],
        *,
        n: int = 1,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        thinking: Any = None,
    ) -> list[Completion]:
        retry = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(self.config.retries.attempts) | stop_after_delay(self.config.retries.max_seconds),
            wait=_wait(self.config.retries),
            before_sleep=lambda s: log.warning("model call failed (%s); retry %d", s.outcome.exception(), s.attempt_number),
            reraise=True,
        )
        try:
            completions = retry(
                self.provider.generate,
                messages,
                n=n,
                max_tokens=max_tokens or self.config.max_tokens,
                temperature=self.config.temperature if temperature is None else temperature,
                stop=stop,
                thinking=thinking,
            )
        except RetryableError as e:
            raise ModelError(f"{self.config.id}: gave up after retries: {e}") from e
        with self._lock:
            for c in completions:
                self.usage = self.usage + c.usage
        return completions
