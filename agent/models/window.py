"""A model's context window: how many tokens one request may hold, where that number comes from, and how a server
says that a request was longer.

The window is, in this order: `model.context_window` in the config; the model row's `context_window`
(configs/models.yaml); what the server says (vLLM's `max_model_len` in GET /v1/models, llama.cpp's `n_ctx` in GET
/props, for `local/<name>` the `n_ctx` its row of configs/local.yaml starts the server with); else DEFAULT_WINDOW.
A server's refusal of a request longer than its window is recognised by its wording (CONTEXT_ERRORS: OpenAI, vLLM,
Anthropic, llama.cpp) and raised as a ContextLengthError (agent/models/base.py), never retried as an outage; a window
the refusal names is learnt by the Model.
"""

from __future__ import annotations

import re

DEFAULT_WINDOW = 32768
"""Tokens assumed when neither the config, the model row nor the server says: a server that holds fewer refuses
the first longer request, and the window its refusal names is used from then on."""

CONTEXT_ERRORS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # OpenAI, vLLM, llama-cpp-python: "This model's maximum context length is 8192 tokens. However, ..."
        r"maximum context length is (?P<window>\d+)",
        # vLLM: "Input length (9000) exceeds model's maximum context length (8192)."
        r"maximum context length \((?P<window>\d+)\)",
        # vLLM: "The decoder prompt (length 9000) is longer than the maximum model length of 8192. ..."
        r"longer than the maximum model length of (?P<window>\d+)",
        # OpenAI: "Input tokens exceed the configured limit of 272000 tokens. ..."
        r"input tokens exceed the configured limit of (?P<window>\d+)",
        # OpenAI: "Your input exceeds the context window of this model. ..."
        r"exceeds the context window",
        # Anthropic: "prompt is too long: 208656 tokens > 200000 maximum"
        r"prompt is too long: \d+ tokens > (?P<window>\d+) maximum",
        # Anthropic: "input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000, decrease ..."
        r"exceed context limit: \d+ \+ \d+ > (?P<window>\d+)",
        # llama.cpp: "request (4476 tokens) exceeds the available context size (4096 tokens), try increasing it";
        # older: "the request exceeds the available context size, try increasing it"
        r"exceeds the available context size(?: \((?P<window>\d+) tokens\))?",
    )
)
"""How servers word a request longer than the model's window; `window`, where present, is the window they name."""


def context_refusal(message: str) -> tuple[bool, int | None]:
    """Whether a server's error message refuses a request for its length, and the window it names (None: none)."""
    for pattern in CONTEXT_ERRORS:
        match = pattern.search(message)
        if match:
            window = match.groupdict().get("window")
            return True, int(window) if window else None
    return False, None


_FOUND: dict[tuple[str, str], tuple[int, str]] = {}
"""Windows servers said, or their refusals named, by (base_url, model id): asked once per process, not per rollout."""


def find_window(configured: int | None, row: int | None, provider: object, server: tuple[str, str]) -> tuple[int, str]:
    """The window and where it came from (`config`, `row`, `server`, `refusal`, `default`); the `server` (base_url,
    model id) is asked only when neither the config nor the row says (the provider's `server_window()`, where it has
    one), once per process."""
    if configured:
        return configured, "config"
    if row:
        return row, "row"
    if server not in _FOUND:
        ask = getattr(provider, "server_window", None)
        served = ask() if ask is not None else None
        _FOUND[server] = (served, "server") if served else (DEFAULT_WINDOW, "default")
    return _FOUND[server]


def learn_window(server: tuple[str, str], tokens: int) -> None:
    """A refusal by `server` (base_url, model id) named its window: every Model of the process uses it from now on."""
    _FOUND[server] = (tokens, "refusal")
