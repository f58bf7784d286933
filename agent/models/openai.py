"""OpenAI chat completions, for OpenAI and any OpenAI-compatible server given by base_url."""

from __future__ import annotations

import json
from typing import Any

from agent.models.base import (
    Completion,
    ModelConfig,
    RetryableError,
    api_key,
    server_message,
    status_error,
    warn_once,
)
from agent.models.catalog import model_info
from agent.records import Usage


class OpenAIProvider:
    """Translates a call to `chat.completions.create`; the SDK's own retries are off."""

    key_variable = "OPENAI_API_KEY"

    def __init__(self, config: ModelConfig):
        import openai

        self.config = config
        self.info = model_info(config.name)
        self.client = openai.OpenAI(
            api_key=api_key(config, self.key_variable), base_url=config.base_url, timeout=config.timeout, max_retries=0
        )

    def request(
        self, messages: list[dict], *, n: int, max_tokens: int, temperature: float, stop: list[str] | None
    ) -> dict[str, Any]:
        """Keyword arguments of one `chat.completions.create` call."""
        kwargs: dict[str, Any] = {"model": self.config.name, "messages": messages, self.info.max_tokens_field: max_tokens}
        if n != 1:
            kwargs["n"] = n
        if self.info.temperature is not False:
            kwargs["temperature"] = temperature
        if stop and self.info.stop:
            kwargs["stop"] = stop
        elif stop:
            warn_once(f"{self.config.id}:stop", f"{self.config.id} takes no stop sequences; they are not sent")
        if self.config.extra_body:
            kwargs["extra_body"] = self.config.extra_body
        return kwargs

    def generate(
        self, messages: list[dict], *, n: int, max_tokens: int, temperature: float, stop: list[str] | None, thinking: Any
    ) -> list[Completion]:
        if thinking is not None:
            warn_once(
                f"{self.config.id}:thinking", f"{self.config.id}: thinking settings are not supported yet; ignored"
            )
        completions: list[Completion] = []
        while len(completions) < n:  # a server that ignores `n` is asked again for the rest
            left = n - len(completions)
            kwargs = self.request(messages, n=left, max_tokens=max_tokens, temperature=temperature, stop=stop)
            completions += self.parse(self.call(kwargs))
        return completions

    def call(self, kwargs: dict[str, Any]) -> Any:
        """One request; SDK errors become RetryableError or ModelError."""
        import openai

        try:
            response = self.client.chat.completions.create(**kwargs)
        except openai.APIStatusError as e:
            message = server_message(e)
            raise status_error(self.config.id, e.status_code, message, e.response.headers, self.key_variable) from e
        except openai.APITimeoutError as e:
            raise RetryableError(f"{self.config.id}: no reply within {self.config.timeout:g} s") from e
        except openai.APIConnectionError as e:
            raise RetryableError(f"{self.config.id}: cannot reach {self.client.base_url}: {e.__cause__ or e}") from e
        except (openai.APIResponseValidationError, json.JSONDecodeError) as e:
            raise RetryableError(f"{self.config.id}: malformed reply: {e}") from e
        if not getattr(response, "choices", None):
            raise RetryableError(f"{self.config.id}: reply without choices")
        return response

    def parse(self, response: Any) -> list[Completion]:
        """Completions of one response; the first carries the response's usage."""
        completions = []
        for choice in response.choices:
            message = choice.message
            thinking = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None) or ""
            completions.append(
                Completion(text=message.content or "", thinking=thinking, finish_reason=choice.finish_reason or "")
            )
        completions[0].usage = _usage(response.usage)
        return completions


def _usage(usage: Any) -> Usage:
    if usage is None:  # some servers send none: the request still counts
        return Usage(requests=1)
    prompt_details, completion_details = usage.prompt_tokens_details, usage.completion_tokens_details
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_input_tokens=(prompt_details and prompt_details.cached_tokens) or 0,
        thinking_tokens=(completion_details and completion_details.reasoning_tokens) or 0,
        requests=1,
    )

