"""The Model contract and the one wrapper that owns retries and usage accounting.

A provider (openai.py, anthropic.py, vllm.py, local/) only translates a Request (call.py) to and from its SDK and
classifies errors as `RetryableError` or `ModelError`; the thinking policy (thinking_policy.py) decides how a
thinking setting is honoured; `Model` does the rest.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_before_delay

from codescale.agent.models.call import Completion, Provider, Request
from codescale.agent.models.catalog import model_info
from codescale.agent.models.limits import LIMITS
from codescale.agent.models.notes import warn_once
from codescale.agent.models.providers import CLIENTS, Endpoint, endpoint
from codescale.agent.models.spending import Spending
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.models.thinking_policy import ThinkingPolicy
from codescale.agent.models.window import context_refusal, find_window, learn_window
from codescale.agent.records import Usage

log = logging.getLogger(__name__)


class ModelError(Exception):
    """A model call that failed for good (bad request, auth, unknown model, retries exhausted)."""


class CapReached(ModelError):
    """A call refused because its group's spending cap was reached (spending.py); not retried."""


class RetryableError(ModelError):
    """A model call worth retrying (429, 5xx, timeout, connection error)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ContextLengthError(ModelError):
    """The server refused a request longer than the model's context window (agent/models/window.py): not an
    outage, never retried; the agent loop condenses its history or ends the rollout with `context_limit`."""

    def __init__(self, message: str, window: int | None = None):
        super().__init__(message)
        self.window = window
        """The window the server named, when it named one."""


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
    """`provider/name`, e.g. `anthropic/claude-sonnet-4-5`, `vllm/Qwen/Qwen3-Coder-30B-A3B-Instruct`,
    `openrouter/qwen/qwen3-coder` (the providers: configs/providers.yaml)."""
    base_url: str | None = None
    """Server URL (vLLM, llama.cpp, proxies); overrides the provider row's."""
    temperature: float = 0.0
    max_tokens: int | None = Field(None, gt=0)
    """Cap on generated tokens per call, thinking included where the API counts it there (OpenAI reasoning models);
    None: the model row's `reply_tokens`, else REPLY_TOKENS."""
    timeout: float = Field(300.0, gt=0)
    """Seconds one HTTP request may take before it counts as hung and is retried."""
    retries: RetryConfig = Field(default_factory=RetryConfig)
    extra_body: dict[str, Any] = {}
    """Extra provider-specific request fields, passed through as they are."""
    context_window: int | None = Field(None, gt=0)
    """Tokens one request may hold (prompt and reply); None: the model row's `context_window`, else what the
    server says, else 32768 (agent/models/window.py)."""
    prompt_cache: bool = True
    """Mark the stable prefix of each request for the provider's prompt cache (Anthropic `cache_control`: the system
    prompt, the instance and the latest turns), so that each turn pays the cached rate for the history. OpenAI,
    vLLM and most OpenAI-compatible servers cache prefixes by themselves."""

    @property
    def provider(self) -> str:
        """The id's prefix: a row of configs/providers.yaml."""
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1] if "/" in self.id else ""


REPLY_TOKENS = 4096
"""Cap on an agent step's reply when neither `model.max_tokens` nor the model's row says."""

PLACEHOLDER_KEY = "codescale-no-key"
"""Sent to a server given by base_url when no key is set (local servers accept any)."""


def api_key(endpoint: Endpoint, model_id: str) -> str:
    """The key from the endpoint's variable in the environment; a placeholder where none is required (a server
    given by URL); else a ModelError naming the variable."""
    if endpoint.key:
        return endpoint.key
    if not endpoint.key_required:
        return PLACEHOLDER_KEY
    raise ModelError(f"{model_id}: no API key: set the environment variable {endpoint.key_variable}")


def status_error(
    model_id: str, status: int, message: str, headers: Mapping[str, str], key_variable: str = ""
) -> ModelError:
    """Classify an HTTP error reply: 408 / 429 / 5xx are worth retrying; a refusal of a request longer than the
    model's window is a ContextLengthError; the rest is fatal."""
    text = f"{model_id}: HTTP {status}: {' '.join(message.split())[:300]}"
    if status in (408, 429) or status >= 500:
        return RetryableError(text, retry_after=retry_after(headers))
    refused, window = context_refusal(message)
    if refused:
        return ContextLengthError(text, window)
    hints = {
        401: f"check {key_variable}" if key_variable else "check the API key",
        403: "the key may lack access to this model",
        404: "unknown model name or wrong base_url",
    }
    return ModelError(f"{text} ({hints[status]})" if status in hints else text)


@contextmanager
def sdk_call(sdk: ModuleType, model_id: str, *, timeout: float, base_url: Any, key_variable: str) -> Iterator[None]:
    """One HTTP request of the `openai` or `anthropic` SDK (both name their error classes alike): paced by the
    process's requests and tokens per minute (limits.py), its exceptions turned into a RetryableError or a
    ModelError."""
    LIMITS.pace()
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


def _wait(config: RetryConfig):
    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        backoff = min(config.max_wait, config.min_wait * 2 ** (state.attempt_number - 1))
        retry_after = getattr(error, "retry_after", None)
        return min(config.max_wait, retry_after) if retry_after is not None else backoff

    return wait


class Model:
    """A model client: `complete()` with bounded retries, and usage summed over every call. Its thinking policy
    (thinking_policy.py) decides how each call's thinking setting is honoured; its provider translates."""

    def __init__(self, config: ModelConfig, spending: Spending | None = None):
        self.config = config
        self.spending = spending
        """The spending cap of the group of calls this Model belongs to (a task's), if any: every call adds its usage,
        and none starts once the cap is reached (CapReached)."""
        self.endpoint = endpoint(config.id, config.base_url)
        """Where its requests go (its provider row, agent/models/providers.py); ValueError for an unknown prefix."""
        self._notes: list[str] = []
        module, _, cls = CLIENTS[self.endpoint.api].rpartition(".")
        self.provider: Provider = getattr(importlib.import_module(module), cls)(config, self._notes, self.endpoint)
        self.info = model_info(config.id)
        """Price and capability row from configs/models.yaml and the user catalog (an empty row for unknown models)."""
        self.policy = ThinkingPolicy(config.id, self.info, self.provider, self._notes)
        self.usage = Usage()
        self._lock = threading.Lock()
        self._window: tuple[int, str] | None = None
        self._window_lock = threading.Lock()

    @property
    def reply_tokens(self) -> int:
        """A call's cap on generated tokens when it sets none: the configured one, else the row's, else REPLY_TOKENS."""
        return self.config.max_tokens or self.info.reply_tokens or REPLY_TOKENS

    @property
    def notes(self) -> list[str]:
        """Settings the backend could not honour so far (e.g. a thinking minimum on Anthropic), each once."""
        return list(self._notes)

    @property
    def context_window(self) -> int:
        """Tokens one request may hold: the config's, the row's, the server's, else the default (window.py); found
        once, and lowered when a server's refusal names a smaller one."""
        return self.window_source[0]

    @property
    def window_source(self) -> tuple[int, str]:
        """The window and where it came from: `config`, `row`, `server`, `default` or `refusal`."""
        with self._window_lock:
            if self._window is None:
                self._window = find_window(self.config.context_window, self.info.context_window, self.provider,
                                           self.server)
            return self._window

    @property
    def server(self) -> tuple[str, str]:
        """Which server this model is: (base_url, model id)."""
        return self.config.base_url or "", self.config.id

    def learn_window(self, tokens: int) -> None:
        """A server's refusal named its window: used from now on, by every Model of this server in the process."""
        with self._window_lock:
            self._window = (tokens, "refusal")
        learn_window(self.server, tokens)

    def count_tokens(self, messages: list[dict]) -> int | None:
        """Tokens of a request holding `messages`, by the server's tokenizer where it has one (vLLM's /tokenize,
        chat template applied); None where it has none, or when the count failed."""
        count = getattr(self.provider, "count_messages", None)
        if count is None:
            return None
        try:
            return count(messages)
        except ModelError as e:
            warn_once(f"{self.config.id}:count", f"{self.config.id}: counting a request's tokens failed ({e}); they "
                                                  "are estimated instead")
            return None

    def complete(
        self,
        messages: list[dict],
        *,
        n: int = 1,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        thinking: ThinkingConfig | dict | None = None,
        cache: bool = False,
    ) -> list[Completion]:
        """`n` replies to `messages`. `cache`: this prompt, or one that extends it, will be sent again (an agent's
        next step, a judge's next vote), so a provider with explicit prompt caching marks it (`prompt_cache`)."""
        if isinstance(thinking, dict):
            thinking = ThinkingConfig.model_validate(thinking)
        request = Request(
            messages=messages,
            n=n,
            max_tokens=max_tokens or self.reply_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            stop=stop,
            cache=cache,
        )
        retry = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(self.config.retries.attempts) | stop_before_delay(self.config.retries.max_seconds),
            wait=_wait(self.config.retries),
            before_sleep=lambda s: log.warning("model call failed (%s); retry %d", s.outcome.exception(), s.attempt_number),
            reraise=True,
        )
        try:
            completions = retry(self._generate, request, thinking)
        except RetryableError as e:
            raise ModelError(f"{self.config.id}: gave up after retries: {e}") from e
        except ContextLengthError as e:
            if e.window:
                self.learn_window(e.window)
            raise
        with self._lock:
            for c in completions:
                c.usage.cost_usd = self.info.cost(c.usage)
                self.usage = self.usage + c.usage
        for c in completions:
            if self.spending is not None:
                self.spending.add(c.usage)
            LIMITS.record(c.usage)
        return completions

    def _generate(self, request: Request, thinking: ThinkingConfig | None) -> list[Completion]:
        """One attempt, once the process's guards (a run's cap) and the group's spending cap let it start, holding a
        process-wide request slot (agent/models/limits.py) while it is in flight."""
        LIMITS.admit()
        if self.spending is not None and (reason := self.spending.reached()):
            raise CapReached(f"{self.config.id}: {reason}")
        with LIMITS.request():
            return self.policy.complete(request, thinking)
