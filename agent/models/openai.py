"""OpenAI chat completions, for OpenAI and any OpenAI-compatible server given by base_url."""

from __future__ import annotations

import threading
from typing import Any

from codescale.agent.models.base import ModelConfig, ModelError, RetryableError, api_key, sdk_call
from codescale.agent.models.call import Completion, Request, ThinkingControl
from codescale.agent.models.catalog import model_info
from codescale.agent.models.chat_template import chat_template
from codescale.agent.models.notes import warn_once
from codescale.agent.models.providers import Endpoint
from codescale.agent.models.raw import RawCompletions, usage_of
from codescale.agent.models.thinking import Continue, Segment


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


_types_ready = False


def ready_response_types(client: Any) -> None:
    """Import the SDK's chat resource and build the response types it parses replies into, once per process. The
    SDK does both on first use, which cost the first call about 0.08 s; and it builds its types lazily in a way
    that is not thread-safe (a run whose judge calls came at once failed once with an AttributeError: `ChatCompletion`
    has no `__pydantic_core_schema__`)."""
    global _types_ready
    from openai.types import Completion, CompletionChoice, CompletionUsage
    from openai.types.chat import ChatCompletion, ChatCompletionMessage
    from openai.types.chat.chat_completion import Choice

    with _http_lock:
        if not _types_ready:
            client.chat.completions, client.completions  # noqa: B018 (lazy imports)
            for kind in (ChatCompletion, Choice, ChatCompletionMessage, Completion, CompletionChoice, CompletionUsage):
                kind.model_rebuild()
            _types_ready = True


class OpenAIProvider(RawCompletions):
    """Translates a call to `chat.completions.create`; the SDK's own retries are off."""

    thinking_control = "effort"
    continues = "row"

    def __init__(self, config: ModelConfig, notes: list[str], endpoint: Endpoint):
        import openai

        self.config = config
        self.info = model_info(config.id)
        self.notes = notes
        self.key_variable = endpoint.key_variable or ""
        self.client = openai.OpenAI(
            api_key=api_key(endpoint, config.id), base_url=endpoint.base_url, timeout=config.timeout, max_retries=0,
            http_client=shared_http_client(),
        )
        ready_response_types(self.client)

    def generate(self, request: Request) -> list[Completion]:
        completions: list[Completion] = []
        while len(completions) < request.n:  # a server that ignores `n` is asked again for the rest
            completions += self.parse(self.call(self.request(request, n=request.n - len(completions))))
        return completions

    def request(self, request: Request, n: int) -> dict[str, Any]:
        """Keyword arguments of one `chat.completions.create` call for `n` of the request's samples; the thinking
        control's fields are added (their `extra_body` merged over the configured one)."""
        kwargs: dict[str, Any] = {
            "model": self.config.name, "messages": request.messages, self.info.max_tokens_field: request.max_tokens,
        }
        if n != 1:
            kwargs["n"] = n
        if self.info.temperature is not False:
            kwargs["temperature"] = request.temperature
        if request.stop and self.info.stop:
            kwargs["stop"] = request.stop
        elif request.stop:
            warn_once(f"{self.config.id}:stop", f"{self.config.id} takes no stop sequences; they are not sent")
        fields = self.thinking_fields(request.thinking) if request.thinking is not None else {}
        extra_body = {**self.config.extra_body, **fields.pop("extra_body", {})}
        kwargs.update(fields)
        if extra_body:
            kwargs["extra_body"] = extra_body
        return kwargs

    def thinking_fields(self, control: ThinkingControl) -> dict[str, Any]:
        """Request fields of a thinking control: `reasoning_effort`."""
        return {"reasoning_effort": control.effort}

    def continuation(self, messages: list[dict], temperature: float) -> tuple[Continue, str]:
        """Generation after a prefilled assistant text, and the generation prompt it follows: the raw completions
        endpoint, with the model row's chat template applied here (a server that cannot continue an assistant
        message still continues a prompt)."""
        template = chat_template(self.info.chat_template or "")
        prompt = template.prompt(messages)

        def generate(prefill: str, limit: int, stop: list[str] | None) -> Segment:
            stops = [*(stop or []), *template.stop]
            response = self.call(self.raw_request(prompt + prefill, limit, temperature, stops))
            if response.usage is None:
                raise ModelError(f"{self.config.id}: budget forcing needs the server's token counts; the reply had none")
            return self.raw_segment(response, stop or [])

        return generate, prompt

    def server_window(self) -> int | None:
        """The window a server given by base_url says it holds: vLLM's `max_model_len` in GET /v1/models, else
        llama.cpp's `n_ctx` in GET /props; None when it says neither (or for the OpenAI API itself)."""
        if not self.config.base_url:
            return None
        try:
            listed = self.post("/v1/models", None).get("data") or []
            mine = [m for m in listed if m.get("id") == self.config.name] or listed[:1]
            if mine and mine[0].get("max_model_len"):
                return int(mine[0]["max_model_len"])
            props = self.post("/props", None)
            settings = props.get("default_generation_settings") or {}
            window = settings.get("n_ctx") or props.get("n_ctx")
            return int(window) if window else None
        except (ModelError, AttributeError, TypeError, ValueError):
            return None

    def call(self, kwargs: dict[str, Any]) -> Any:
        """One request (chat completions; raw completions when `kwargs` has a `prompt`); SDK errors become
        RetryableError or ModelError."""
        import openai

        create = self.client.completions.create if "prompt" in kwargs else self.client.chat.completions.create
        with sdk_call(openai, self.config.id, timeout=self.config.timeout, base_url=self.client.base_url,
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
        completions[0].usage = usage_of(response.usage)
        return completions


