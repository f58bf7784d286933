"""OpenAI chat completions, for OpenAI and any OpenAI-compatible server given by base_url."""

from __future__ import annotations

import threading
from typing import Any

from codescale.agent.models.base import (
    Completion,
    ModelConfig,
    ModelError,
    RetryableError,
    api_key,
    note,
    sdk_errors,
    warn_once,
)
from codescale.agent.models.catalog import model_info
from codescale.agent.models.chat_template import chat_template
from codescale.agent.models.thinking import Continue, Segment, ThinkingConfig, force, reasoning_effort
from codescale.agent.records import Usage


_http: Any = None
_http_lock = threading.Lock()


def shared_http_client() -> Any:
    """One HTTP connection pool for every OpenAI client of this process. Each client would make its own, and
    making one costs about 0.1 s of CPU (the CA bundle is parsed): paid once per rollout, 16 rollouts starting
    at once held each other up for over a second. The SDK still sends each client's own timeout and key."""
    global _http
    import openai

    with _http_lock:
        if _http is None:
            _http = openai.DefaultHttpxClient()
        return _http


class OpenAIProvider:
    """Translates a call to `chat.completions.create`; the SDK's own retries are off."""

    key_variable = "OPENAI_API_KEY"

    def __init__(self, config: ModelConfig):
        import openai

        self.config = config
        self.info = model_info(config.name)
        self.notes: list[str] = []
        self.client = openai.OpenAI(
            api_key=api_key(config, self.key_variable), base_url=config.base_url, timeout=config.timeout, max_retries=0,
            http_client=shared_http_client(),
        )

    def request(
        self,
        messages: list[dict],
        *,
        n: int,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments of one `chat.completions.create` call; `extra` adds request fields (its
        `extra_body` is merged over the configured one)."""
        kwargs: dict[str, Any] = {"model": self.config.name, "messages": messages, self.info.max_tokens_field: max_tokens}
        if n != 1:
            kwargs["n"] = n
        if self.info.temperature is not False:
            kwargs["temperature"] = temperature
        if stop and self.info.stop:
            kwargs["stop"] = stop
        elif stop:
            warn_once(f"{self.config.id}:stop", f"{self.config.id} takes no stop sequences; they are not sent")
        extra = dict(extra or {})
        extra_body = {**self.config.extra_body, **extra.pop("extra_body", {})}
        kwargs.update(extra)
        if extra_body:
            kwargs["extra_body"] = extra_body
        return kwargs

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
        if thinking is not None and self.forces(thinking):
            return [
                self.forced(messages, max_tokens=max_tokens, temperature=temperature, stop=stop, thinking=thinking)
                for _ in range(n)
            ]
        extra = self.thinking_fields(thinking) if thinking is not None else {}
        completions: list[Completion] = []
        while len(completions) < n:  # a server that ignores `n` is asked again for the rest
            left = n - len(completions)
            kwargs = self.request(
                messages, n=left, max_tokens=max_tokens, temperature=temperature, stop=stop, extra=extra
            )
            completions += self.parse(self.call(kwargs))
        return completions

    def forces(self, thinking: ThinkingConfig) -> bool:
        """Whether this setting is honoured by budget forcing: for models whose row names a chat template and
        no other means (`thinking`)."""
        return self.info.thinking is None and self.info.chat_template is not None

    def thinking_fields(self, thinking: ThinkingConfig) -> dict[str, Any]:
        """Request fields for a thinking setting: `reasoning_effort` mapped from the cap on reasoning models
        (configs/models.yaml); other models cannot take one, which is noted."""
        if self.info.thinking != "effort":
            note(
                self.notes,
                f"{self.config.id}: the openai backend cannot control this model's thinking (no `thinking: effort` "
                "row in configs/models.yaml); the thinking setting is not applied (the vllm backend can force it)",
            )
            return {}
        effort = reasoning_effort(thinking.max_tokens, self.info.efforts)
        note(
            self.notes,
            f"{self.config.id}: thinking.max_tokens={thinking.max_tokens} is sent as reasoning_effort={effort}, "
            "a coarse level, not an exact cap",
        )
        if thinking.min_tokens:
            note(self.notes, f"{self.config.id}: a thinking minimum is not supported (reasoning_effort); ignored")
        return {"reasoning_effort": effort}

    def forced(
        self, messages: list[dict], *, max_tokens: int, temperature: float, stop: list[str] | None, thinking: ThinkingConfig
    ) -> Completion:
        """One reply under s1 budget forcing (agent/models/thinking.py), generated by `continuation`."""
        result = force(
            self.continuation(messages, temperature),
            thinking,
            max_tokens=max_tokens,
            open_tag=thinking.think_open or self.info.think_open,
            close_tag=thinking.think_close or self.info.think_close,
            stop=stop,
        )
        return Completion(**dict(result))

    def continuation(self, messages: list[dict], temperature: float) -> Continue:
        """Generation after a prefilled assistant text: the raw completions endpoint, with the model row's chat
        template applied here (a server that cannot continue an assistant message still continues a prompt)."""
        template = chat_template(self.info.chat_template or "")
        prompt = template.prompt(messages)

        def generate(prefill: str, limit: int, stop: list[str] | None) -> Segment:
            kwargs: dict[str, Any] = {"model": self.config.name, "prompt": prompt + prefill, "max_tokens": limit}
            if self.info.temperature is not False:
                kwargs["temperature"] = temperature
            kwargs["stop"] = [*(stop or []), *template.stop]
            if self.config.extra_body:
                kwargs["extra_body"] = self.config.extra_body
            response = self.call(kwargs)
            choice = response.choices[0]
            if response.usage is None:
                raise ModelError(f"{self.config.id}: budget forcing needs the server's token counts; the reply had none")
            finish = "length" if choice.finish_reason == "length" else "stop"
            return Segment(text=choice.text or "", finish_reason=finish, usage=_usage(response.usage))

        return generate

    def call(self, kwargs: dict[str, Any]) -> Any:
        """One request (chat completions; raw completions when `kwargs` has a `prompt`); SDK errors become
        RetryableError or ModelError."""
        import openai

        create = self.client.completions.create if "prompt" in kwargs else self.client.chat.completions.create
        with sdk_errors(openai, self.config.id, timeout=self.config.timeout, base_url=self.client.base_url,
                        key_variable=self.key_variable):
            response = create(**kwargs)
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

