"""The Model contract and the one wrapper that owns retries and usage accounting.

A provider (openai.py, anthropic.py, vllm.py) only translates to and from its SDK and
classifies errors as `RetryableError` or `ModelError`; `Model` does the rest.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_before_delay

from codescale.agent.models.catalog import model_info
from codescale.agent.models.limits import LIMITS
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.records import Usage

log = logging.getLogger(__name__)


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


class ModelError(Exception):
    """A model call that failed for good (bad request, auth, unknown model, retries exhausted)."""


class RetryableError(ModelError):
    """A model call worth retrying (429, 5xx, timeout, connection error)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(6, ge=1)
    """Tries per call, the first included."""
    max_seconds: float = Field(600.0, ge=0)
    """Start no retry later than this many seconds after the first try (a wait that would cross it gives up)."""
    min_wait: float = Field(1.0, ge=0)
    """First back-off in seconds; doubles each retry (Retry-After wins when the server sends it)."""
    max_wait: float = Field(60.0, ge=0)
    """Longest single back-off in seconds."""


class ModelConfig(BaseModel):
    """Which model to call and how."""

    model_config = ConfigDict(extra="forbid")

    id: str = "openai/gpt-5-mini"
    """`backend/name`, e.g. `anthropic/claude-sonnet-4-5`, `vllm/Qwen/Qwen3-Coder-30B-A3B-Instruct`."""
    base_url: str | None = None
    """Server URL for OpenAI-compatible servers (vLLM, llama.cpp, proxies)."""
    temperature: float = 0.0
    max_tokens: int = Field(4096, gt=0)
    """Cap on generated tokens per call."""
    timeout: float = Field(300.0, gt=0)
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

    notes: list[str]
    """Settings this provider could not honour, each once, in words (see `note`)."""

    def generate(
        self,
        messages: list[dict],
        *,
        n: int,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        thinking: ThinkingConfig | None,
    ) -> list[Completion]: ...


PLACEHOLDER_KEY = "codescale-no-key"
"""Sent to a server given by base_url when no key is set (local servers accept any)."""


def api_key(config: ModelConfig, variable: str) -> str:
    """The key from `variable` in the environment; a placeholder with a base_url; else a ModelError."""
    key = os.environ.get(variable)
    if key:
        return key
    if config.base_url:
        return PLACEHOLDER_KEY
    raise ModelError(f"{config.id}: no API key: set the environment variable {variable}")


def status_error(
    model_id: str, status: int, message: str, headers: Mapping[str, str], key_variable: str = ""
) -> ModelError:
    """Classify an HTTP error reply: 408 / 429 / 5xx are worth retrying, the rest is fatal."""
    text = f"{model_id}: HTTP {status}: {' '.join(message.split())[:300]}"
    if status in (408, 429) or status >= 500:
        return RetryableError(text, retry_after=retry_after(headers))
    hints = {
        401: f"check {key_variable}" if key_variable else "check the API key",
        403: "the key may lack access to this model",
        404: "unknown model name or wrong base_url",
    }
    return ModelError(f"{text} ({hints[status]})" if status in hints else text)


@contextmanager
def sdk_errors(sdk: ModuleType, model_id: str, *, timeout: float, base_url: Any, key_variable: str) -> Iterator[None]:
    """Turn an exception of the `openai` or `anthropic` SDK (both name their error classes alike) into a
    RetryableError or a ModelError."""
    try:
        yield
    except sdk.APIStatusError as e:
        raise status_error(model_id, e.status_code, server_message(e), e.response.headers, key_variable) from e
    except sdk.APITimeoutError as e:  # before APIConnectionError, its base class
        raise RetryableError(f"{model_id}: no reply within {timeout:g} s") from e
    except sdk.APIConnectionError as e:
        raise RetryableError(f"{model_id}: cannot reach {base_url}: {e.__cause__ or e}") from e
    except (sdk.APIResponseValidationError, json.JSONDecodeError) as e:
        raise RetryableError(f"{model_id}: malformed reply: {e}") from e


def server_message(error: Any) -> str:
    """The server's own message from an SDK status error (OpenAI and Anthropic shapes)."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return str(getattr(error, "message", error))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP date), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Log a warning the first time `key` is seen in this process."""
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def note(notes: list[str], message: str) -> None:
    """Say that a setting could not be honoured: once in the log (per process) and once in `notes`, which
    the Model exposes so that the run record can carry it."""
    warn_once(message, message)
    if message not in notes:
        notes.append(message)


PROVIDERS = {
    "openai": "codescale.agent.models.openai.OpenAIProvider",
    "anthropic": "codescale.agent.models.anthropic.AnthropicProvider",
    "vllm": "codescale.agent.models.vllm.VLLMProvider",
    "local": "codescale.agent.models.local.LocalProvider",
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
        self.info = model_info(config.name)
        """Price and capability row from configs/models.yaml (an empty row for unknown models)."""
        self.usage = Usage()
        self._lock = threading.Lock()

    @property
    def notes(self) -> list[str]:
        """Settings the backend could not honour so far (e.g. a thinking minimum on Anthropic), each once."""
        return list(self.provider.notes)

    def complete(
        self,
        messages: list[dict],
        *,
        n: int = 1,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        thinking: ThinkingConfig | dict | None = None,
    ) -> list[Completion]:
        if isinstance(thinking, dict):
            thinking = ThinkingConfig.model_validate(thinking)
        retry = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(self.config.retries.attempts) | stop_before_delay(self.config.retries.max_seconds),
            wait=_wait(self.config.retries),
            before_sleep=lambda s: log.warning("model call failed (%s); retry %d", s.outcome.exception(), s.attempt_number),
            reraise=True,
        )
        try:
            completions = retry(
                self._generate,
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
                c.usage.cost_usd = self.info.cost(c.usage)
                self.usage = self.usage + c.usage
        for c in completions:
            LIMITS.record(c.usage)
        return completions

    def _generate(self, messages: list[dict], **kwargs: Any) -> list[Completion]:
        """One attempt, holding a process-wide request slot (agent/models/limits.py) while it is in flight."""
        with LIMITS.request():
            return self.provider.generate(messages, **kwargs)
