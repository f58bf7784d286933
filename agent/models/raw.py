"""Raw completions for budget forcing: one request from a text prompt, read as a `Segment` that says whether the
model ended its turn or stopped at a stop string; and JSON calls at the server's root (/tokenize and kin)."""

from __future__ import annotations

from typing import Any

from codescale.agent.models.base import ModelError, RetryableError, status_error
from codescale.agent.models.notes import note
from codescale.agent.models.thinking import Segment
from codescale.agent.records import Usage

CHAT_ONLY = {"chat_template_kwargs", "chat_template", "add_generation_prompt", "continue_final_message"}
"""extra_body fields of chat requests that a raw completions request does not take."""


class RawCompletions:
    """Mixed into OpenAIProvider: needs its `config`, `info`, `client`, `notes` and `key_variable`."""

    _bos: int | None = None
    """Tokens a llama.cpp server adds to any text it counts (its BOS), learnt at the first count."""

    def raw_request(self, prompt: str, limit: int, temperature: float, stop: list[str], **fields: Any) -> dict[str, Any]:
        """Keyword arguments of one raw completions call; chat-only fields of the configured extra_body are left out."""
        kwargs: dict[str, Any] = {"model": self.config.name, "prompt": prompt, "max_tokens": limit, "stop": stop}
        if self.info.temperature is not False:
            kwargs["temperature"] = temperature
        extra_body = {k: v for k, v in self.config.extra_body.items() if k not in CHAT_ONLY} | fields
        if extra_body:
            kwargs["extra_body"] = extra_body
        return kwargs

    def raw_segment(self, response: Any, stop: list[str]) -> Segment:
        """A raw completion as a Segment; `ended_turn` when it stopped at none of `stop`. vLLM names the stop
        string that ended a choice in `stop_reason` (None at the end of the turn); llama.cpp's server does not, but
        it counts the tokens of a stop string it cut off, so fewer tokens in the text than generated means one
        of the stop strings ended it."""
        choice = response.choices[0]
        usage = usage_of(response.usage)
        text = choice.text or ""
        ended = False
        if choice.finish_reason != "length":
            fields = choice.to_dict()  # the SDK keeps fields it does not know, such as vLLM's stop_reason
            if "stop_reason" in fields:
                ended = fields["stop_reason"] not in stop
            else:
                try:
                    ended = usage.output_tokens <= self.text_tokens(text)
                except ModelError as e:  # no llama.cpp tokenize endpoint: a stop is taken for the close tag
                    note(self.notes, f"{self.config.id}: cannot tell an end of turn from a closed thinking phase "
                                     f"({e}); every stop is taken as the close tag")
                    ended = False
        finish = "length" if choice.finish_reason == "length" else "stop"
        return Segment(text=text, finish_reason=finish, usage=usage, ended_turn=ended)

    def text_tokens(self, text: str) -> int:
        """Tokens of `text` by a llama.cpp server (`POST /extras/tokenize/count`), the BOS it may add left out."""
        if self._bos is None:
            self._bos = self.post("/extras/tokenize/count", {"input": ""})["count"]
        return self.post("/extras/tokenize/count", {"input": text})["count"] - self._bos

    def post(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """POST a JSON body to `path` at the server's root (outside /v1), or GET it when `body` is None; HTTP errors
        classified as for model calls."""
        import json
        import urllib.error
        import urllib.request

        root = str(self.client.base_url).rstrip("/").removesuffix("/v1")
        request = urllib.request.Request(
            f"{root}{path}",
            data=None if body is None else json.dumps({"model": self.config.name, **body}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.client.api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as e:
            message = e.read().decode(errors="replace")
            raise status_error(self.config.id, e.code, message, e.headers, self.key_variable) from e
        except (urllib.error.URLError, TimeoutError, ValueError) as e:
            raise RetryableError(f"{self.config.id}: {path} failed: {e}") from e


def usage_of(usage: Any) -> Usage:
    if usage is None:  # some servers send none: the request still counts
        return Usage(requests=1)
    prompt_details, completion_details = usage.prompt_tokens_details, usage.completion_tokens_details
    # DeepSeek reports its cache hits in a field of its own
    cached = (prompt_details and prompt_details.cached_tokens) or getattr(usage, "prompt_cache_hit_tokens", 0) or 0
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_input_tokens=cached,
        thinking_tokens=(completion_details and completion_details.reasoning_tokens) or 0,
        requests=1,
    )

