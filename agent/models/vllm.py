"""A vLLM server through its OpenAI-compatible API, plus what only vLLM offers: its own chat template rendered on
request and continued through raw completions (budget forcing), a native thinking cap, `n`, /tokenize."""

from __future__ import annotations

from typing import Any

from codescale.agent.models.base import ModelConfig, ModelError, RetryableError
from codescale.agent.models.call import ThinkingControl
from codescale.agent.models.openai import OpenAIProvider
from codescale.agent.models.providers import Endpoint
from codescale.agent.models.thinking import Continue, Segment
from codescale.agent.records import Usage

RAW = {"skip_special_tokens": False, "include_stop_str_in_output": False, "add_special_tokens": False}
"""vLLM fields of a budget-forcing request: special tokens are kept so that a close tag that is a special token is
seen as a stop string; the prompt is the rendered template, which already holds any special tokens it needs.
`min_tokens` is NOT used for a thinking minimum: vLLM ignores stop strings until min_tokens are generated, so the
model would write past its close tag into the answer; an early close is caught by the stop string and extended."""


class VLLMProvider(OpenAIProvider):
    """Like OpenAIProvider, but a base_url is required and the key comes from VLLM_API_KEY (its provider row: the
    variable vLLM's own server reads), so that an OpenAI key never goes to a local server."""

    thinking_control = "native"
    continues = "server"

    def __init__(self, config: ModelConfig, notes: list[str], endpoint: Endpoint):
        if not endpoint.base_url:
            raise ModelError(f"{config.id}: the vllm backend needs a base_url, e.g. http://localhost:8000/v1")
        super().__init__(config, notes, endpoint)

    def thinking_fields(self, control: ThinkingControl) -> dict[str, Any]:
        """Request fields of a thinking control: the server's own cap, `thinking_token_budget`."""
        return {"extra_body": {"thinking_token_budget": control.native_cap}}

    def continuation(self, messages: list[dict], temperature: float) -> tuple[Continue, str]:
        """Generation after a prefilled assistant text: the generation prompt rendered by the server's own chat
        template (`render`), the prefill appended, continued through the raw completions endpoint. This is the
        prompt the model sees when it starts a reply itself, not a rendered final assistant message (which a
        template such as Qwen3's turns into an empty, closed thinking block first)."""
        prompt = self.render(messages)

        def generate(prefill: str, limit: int, stop: list[str] | None) -> Segment:
            kwargs = self.raw_request(prompt + prefill, limit, temperature, stop or [], **RAW)
            segment = self.raw_segment(self.call(kwargs), stop or [])
            if not segment.usage.output_tokens and segment.text:  # no counts in the reply: the server's tokenizer
                segment.usage = Usage(output_tokens=self.count_tokens(segment.text), requests=1)
            return segment

        return generate, prompt

    def render(self, messages: list[dict]) -> str:
        """The conversation rendered by the server's chat template with its generation prompt (`POST /tokenize`
        with messages, `chat_template_kwargs` from the configured extra_body), as text (`POST /detokenize`)."""
        body: dict[str, Any] = {"messages": messages, "add_generation_prompt": True, "add_special_tokens": False}
        if "chat_template_kwargs" in self.config.extra_body:
            body["chat_template_kwargs"] = self.config.extra_body["chat_template_kwargs"]
        tokens = self.post("/tokenize", body)["tokens"]
        return self.post("/detokenize", {"tokens": tokens})["prompt"]

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the server's tokenizer (vLLM's `POST /tokenize`, no special tokens added)."""
        try:
            return int(self.post("/tokenize", {"prompt": text, "add_special_tokens": False})["count"])
        except (KeyError, TypeError, ValueError) as e:
            raise RetryableError(f"{self.config.id}: /tokenize gave no count: {e}") from e

    def count_messages(self, messages: list[dict]) -> int:
        """Tokens of a request holding `messages`: the server's chat template applied with its generation prompt, by
        its tokenizer (`POST /tokenize` with messages)."""
        body: dict[str, Any] = {"messages": messages, "add_generation_prompt": True}
        if "chat_template_kwargs" in self.config.extra_body:
            body["chat_template_kwargs"] = self.config.extra_body["chat_template_kwargs"]
        try:
            return int(self.post("/tokenize", body)["count"])
        except (KeyError, TypeError, ValueError) as e:
            raise RetryableError(f"{self.config.id}: /tokenize gave no count: {e}") from e
