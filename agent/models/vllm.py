"""A vLLM server through its OpenAI-compatible API, plus what only vLLM offers: continuing a prefilled
assistant message (budget forcing), a native thinking cap, and its /tokenize endpoint."""

from __future__ import annotations

from typing import Any

from codescale.agent.models.base import Completion, ModelConfig, ModelError, RetryableError, note, status_error
from codescale.agent.models.openai import OpenAIProvider, _usage
from codescale.agent.models.thinking import Continue, Segment, ThinkingConfig
from codescale.agent.records import Usage

CONTINUE = {
    "continue_final_message": True,
    "add_generation_prompt": False,
    "skip_special_tokens": False,
    "include_stop_str_in_output": False,
}
"""vLLM request fields that make the final assistant message a prefix the model continues. Special tokens are
kept so that a close tag that is a special token is seen as a stop string. `min_tokens` is NOT used for a
thinking minimum: vLLM ignores stop strings until min_tokens are generated, so the model would write past its
close tag into the answer; an early close is caught by the stop string and extended instead."""


class VLLMProvider(OpenAIProvider):
    """Like OpenAIProvider, but a base_url is required and the key comes from VLLM_API_KEY
    (the variable vLLM's own server reads), so that an OpenAI key never goes to a local server."""

    key_variable = "VLLM_API_KEY"

    def __init__(self, config: ModelConfig):
        if not config.base_url:
            raise ModelError(f"{config.id}: the vllm backend needs a base_url, e.g. http://localhost:8000/v1")
        super().__init__(config)

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
        completions = super().generate(
            messages, n=n, max_tokens=max_tokens, temperature=temperature, stop=stop, thinking=thinking
        )
        if thinking is not None and self.native(thinking):
            for c in completions:
                self.count_native(c, thinking.max_tokens)
        return completions

    def forces(self, thinking: ThinkingConfig) -> bool:
        return not self.native(thinking)

    def native(self, thinking: ThinkingConfig) -> bool:
        """Whether this setting goes to the server's own cap (`thinking_token_budget`) in one request."""
        if thinking.strategy == "forced" or thinking.max_tokens is None:
            return False
        if thinking.strategy == "native" or (self.info.thinking == "native" and not thinking.min_tokens):
            if thinking.min_tokens:
                note(self.notes, f"{self.config.id}: a thinking minimum is not possible with the native cap; ignored")
            return True
        return False

    def thinking_fields(self, thinking: ThinkingConfig) -> dict[str, Any]:
        return {"extra_body": {"thinking_token_budget": thinking.max_tokens}}

    def count_native(self, completion: Completion, cap: int) -> None:
        """Thinking tokens of a natively capped reply: the server's reasoning count, else its tokenizer's."""
        if completion.thinking and not completion.usage.thinking_tokens and completion.usage.requests:
            completion.usage.thinking_tokens = self.count_tokens(completion.thinking)
        completion.capped = completion.usage.thinking_tokens >= cap

    def continuation(self, messages: list[dict], temperature: float) -> Continue:
        """Generation after a prefilled assistant text: vLLM continues the final assistant message."""

        def generate(prefill: str, limit: int, stop: list[str] | None) -> Segment:
            turns = [*messages, {"role": "assistant", "content": prefill}]
            kwargs = self.request(
                turns, n=1, max_tokens=limit, temperature=temperature, stop=stop, extra={"extra_body": CONTINUE}
            )
            return self.segment(self.call(kwargs))

        return generate

    def segment(self, response: Any) -> Segment:
        """A continuation's text (a reasoning parser may have put any of it in `reasoning`) and its counts."""
        choice = response.choices[0]
        message = choice.message
        reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None) or ""
        text = reasoning + (message.content or "")
        if response.usage is not None:
            usage = _usage(response.usage)
        else:  # no counts in the reply: the server's tokenizer counts the generated text
            usage = Usage(output_tokens=self.count_tokens(text), requests=1)
        return Segment(text=text, finish_reason="length" if choice.finish_reason == "length" else "stop", usage=usage)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the server's tokenizer (vLLM's `POST /tokenize`, no special tokens added)."""
        import json
        import urllib.error
        import urllib.request

        root = str(self.client.base_url).rstrip("/").removesuffix("/v1")
        body = {"model": self.config.name, "prompt": text, "add_special_tokens": False}
        request = urllib.request.Request(
            f"{root}/tokenize",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.client.api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as reply:
                return int(json.loads(reply.read())["count"])
        except urllib.error.HTTPError as e:
            message = e.read().decode(errors="replace")
            raise status_error(self.config.id, e.code, message, e.headers, self.key_variable) from e
        except (urllib.error.URLError, TimeoutError, ValueError, KeyError) as e:
            raise RetryableError(f"{self.config.id}: /tokenize failed: {e}") from e
