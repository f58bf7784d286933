"""A fake model server on loopback that speaks the real OpenAI and Anthropic HTTP formats.

    with FakeServer(replies=["hello"]) as server:        # or the `fake_server` fixture
        ModelConfig(id="openai/fake", base_url=server.openai_url)      # .../v1
        ModelConfig(id="anthropic/fake", base_url=server.url)          # root

Endpoints: `POST /v1/chat/completions` (OpenAI, `n` choices), `GET /v1/models`, `POST /v1/messages`
(Anthropic). Extend by subclassing and adding to `routes`.

A model request is answered, in this order, by:
1. the next fault in `server.faults`: `("status", 500)`, `("status", 429, retry_after_seconds)`,
   `("hang", seconds)` (no answer; the connection is dropped after `seconds`), `("malformed",)`
   (200 with an invalid JSON body);
2. the next entries of `server.replies` (one per choice when `n` > 1): a `str` or a `Reply`;
3. `server.responder(request_json)` (every content as plain text: `as_text`), returning a `str` / `Reply`
   (used for every choice) or a list of them (one per choice);
4. else HTTP 400 "fake server: no scripted reply left" (fails fast, no retries).

Token counts are whitespace-split words: prompt tokens = words of every message's text (and of the
Anthropic `system`), output tokens = words of the reply text plus its thinking, reasoning/thinking
tokens = words of the thinking, cached tokens = min(`server.cached_tokens`, prompt tokens).
Anthropic's `input_tokens` excludes the cached ones, as the real API does; an Anthropic request with
`cache_control` breakpoints is answered from Anthropic's prompt cache as tests/prompt_cache.py keeps it (reads,
writes). `Reply.finish = "length"` reports a reply cut at max_tokens. `stop` sequences cut the
reply text; `max_tokens` is not enforced.

With a `window` (tokens), a request longer than it is refused with HTTP 400 as a real server refuses it
(`window_error`: `vllm`, `openai`, `openai-unnamed` (OpenAI's newer wording, which names no number), `llama.cpp`;
the Anthropic route always answers as Anthropic does; see `check_window`), before any scripted reply is taken,
and GET /v1/models lists the window as vLLM does (`max_model_len`).

Every request is recorded in `server.requests` as a `Request(method, path, headers, json, time)`; with a
`chat_template`, the prompt each chat request renders to (as a real server renders it) in `server.prompts`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prompt_cache import PromptCache, marked


@dataclass
class Reply:
    """One scripted reply: its text and, optionally, thinking (OpenAI `reasoning_content`,
    an Anthropic thinking block)."""

    text: str
    thinking: str = ""
    finish: str = ""
    """`length`: the reply says it was cut at max_tokens (OpenAI `finish_reason`, Anthropic `stop_reason` max_tokens)."""


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    """Without the query string."""
    headers: dict[str, str]
    """Header names in lower case."""
    json: Any
    """The parsed body, or None."""
    time: float = field(default_factory=time.monotonic)
    """`time.monotonic()` when it arrived."""
    reply: Any = None
    """The body of a successful answer (its `usage` is what the server reported)."""

    @property
    def api_key(self) -> str | None:
        """The key the client sent, as `x-api-key` or `Authorization: Bearer`."""
        bearer = self.headers.get("authorization", "")
        return self.headers.get("x-api-key") or (bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None)


Answer = str | Reply | list[str | Reply]


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def words(value: Any) -> int:
    """Whitespace-split words of a message content (a string or a list of text parts)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(words(part.get("text", "")) if isinstance(part, dict) else words(part) for part in value)
    return 0


def as_text(body: dict) -> dict:
    """The request as a model reads it: every content (and an Anthropic `system`) as plain text, its blocks joined."""
    join = lambda value: "".join(part.get("text", "") for part in value) if isinstance(value, list) else value  # noqa: E731
    plain = {**body, "messages": [{**m, "content": join(m.get("content"))} for m in body.get("messages", [])]}
    if "system" in body:
        plain["system"] = join(body["system"])
    return plain


def cut_at_stop(text: str, stop: str | list[str] | None) -> tuple[str, str | None]:
    """The text before the earliest stop sequence, and that sequence (None when none occurs)."""
    stops = [stop] if isinstance(stop, str) else stop or []
    found = [(text.index(s), s) for s in stops if s and s in text]
    if not found:
        return text, None
    index, sequence = min(found)
    return text[:index], sequence


class FakeServer:
    """A scripted model server in a background thread on 127.0.0.1 (a free port)."""

    def __init__(
        self,
        replies: list[str | Reply] = (),
        responder: Callable[[dict], Answer] | None = None,
        faults: list[tuple] = (),
        models: list[str] | None = None,
        api_key: str | None = None,
        cached_tokens: int = 0,
        port: int = 0,
        chat_template: str | None = None,
        window: int | None = None,
        window_error: str = "vllm",
        thinking_details: bool = True,
    ):
        self.replies: deque[str | Reply] = deque(replies)
        self.responder = responder
        self.faults: deque[tuple] = deque(faults)
        self.models = models
        """When set, GET /v1/models lists these and other model names get a 404."""
        self.api_key = api_key
        """When set, requests without this key (Bearer or x-api-key) get a 401."""
        self.cached_tokens = cached_tokens
        self.port = port
        """0 takes a free port; a fixed one lets a stopped server come back where its clients expect it."""
        self.chat_template = chat_template
        """When set (Jinja2, tests/chat_templates.py), each chat request's messages are rendered with it, as a real
        server does, into `prompts`."""
        self.window = window
        """Tokens a request may hold; None: no limit."""
        self.window_error = window_error
        """Whose words refuse a longer request: `vllm`, `openai`, `openai-unnamed` or `llama.cpp`."""
        self.prompt_cache = PromptCache()
        """Anthropic's prompt cache (tests/prompt_cache.py), used by requests that carry `cache_control`."""
        self.thinking_details = thinking_details
        """Anthropic: whether `usage.output_tokens_details.thinking_tokens` is reported (servers that predate it, and
        proxies, report only `output_tokens`, thinking included)."""
        self.prompts: list[str] = []
        self.requests: list[Request] = []
        self.routes: dict[tuple[str, str], Callable[[dict], dict]] = {
            ("POST", "/v1/chat/completions"): self.openai_chat,
            ("GET", "/v1/models"): self.openai_models,
            ("POST", "/v1/messages"): self.anthropic_messages,
        }
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._http: ThreadingHTTPServer | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._http = _QuietServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self._http.serve_forever, args=(0.05,), name="fake-model-server", daemon=True).start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._http:
            self._http.shutdown()
            self._http.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL: the base_url for the Anthropic SDK."""
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def openai_url(self) -> str:
        """`url` + `/v1`: the base_url for OpenAI-compatible clients."""
        return self.url + "/v1"

    # --- scripting -------------------------------------------------------------------------

    def answers(self, body: dict, n: int) -> list[Reply]:
        """The next n replies, from the queue, then the responder."""
        with self._lock:
            if len(self.replies) >= n:
                return [_reply(self.replies.popleft()) for _ in range(n)]
        if self.responder is None:
            raise HTTPError(400, f"fake server: no scripted reply left (asked for {n})")
        try:
            answer = self.responder(as_text(body))
        except Exception as e:  # a bug in the test's script: fail fast, without retries
            raise HTTPError(400, f"fake server: responder raised {e!r}") from e
        answers = answer if isinstance(answer, list) else [answer] * n
        if len(answers) != n:
            raise HTTPError(400, f"fake server: responder gave {len(answers)} replies for n={n}")
        return [_reply(a) for a in answers]

    def next_fault(self) -> tuple | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def check(self, request: Request) -> None:
        """Raise the HTTPError a real server would for a bad key or an unknown model."""
        if self.api_key is not None:
            if request.api_key != self.api_key:
                raise HTTPError(401, "fake server: invalid API key")
        name = (request.json or {}).get("model")
        if self.models is not None and request.method == "POST" and name not in self.models:
            raise HTTPError(404, f"fake server: the model `{name}` does not exist")

    # --- formats ---------------------------------------------------------------------------

    def openai_models(self, body: dict) -> dict:
        names = self.models if self.models is not None else ["fake-model"]
        window = {"max_model_len": self.window} if self.window else {}
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake", **window}
                                           for m in names]}

    def check_window(self, prompt: int, body: dict, anthropic: bool = False) -> None:
        """Refuse a request longer than the window, as the real servers do and word it: vLLM (prompt and one output
        token; it clamps max_tokens), OpenAI (prompt and max_tokens), llama.cpp (prompt and one token), Anthropic
        (the prompt alone)."""
        if self.window is None:
            return
        reply = body.get("max_tokens") or body.get("max_completion_tokens") or 0
        kind = "anthropic" if anthropic else self.window_error
        length = {"vllm": prompt + 1, "openai": prompt + reply, "openai-unnamed": prompt + reply, "llama.cpp": prompt + 1,
                  "anthropic": prompt}[kind]
        if length <= self.window:
            return
        w = self.window
        raise HTTPError(400, {
            "vllm": f"This model's maximum context length is {w} tokens. However, your prompt contains {prompt} input "
                    "tokens, which exceeds this limit even without any output tokens. Please reduce the length of the "
                    "input prompt.",
            "openai": f"This model's maximum context length is {w} tokens. However, you requested {prompt + reply} "
                      f"tokens ({prompt} in the messages, {reply} in the completion). Please reduce the length of the "
                      "messages or completion.",
            "openai-unnamed": "Your input exceeds the context window of this model. Please adjust your input and try "
                              "again.",
            "llama.cpp": f"request ({prompt} tokens) exceeds the available context size ({w} tokens), try increasing it",
            "anthropic": f"prompt is too long: {prompt} tokens > {w} maximum",
        }[kind])

    def openai_chat(self, body: dict) -> dict:
        n = body.get("n") or 1
        if self.chat_template is not None:
            from chat_templates import render

            kwargs = body.get("chat_template_kwargs") or {}
            prompt_text = render(self.chat_template, body.get("messages", []), add_generation_prompt=True, **kwargs)
            with self._lock:
                self.prompts.append(prompt_text)
        prompt = sum(words(m.get("content")) for m in body.get("messages", []))
        self.check_window(prompt, body)
        choices, output, reasoning = [], 0, 0
        for index, reply in enumerate(self.answers(body, n)):
            text, _ = cut_at_stop(reply.text, body.get("stop"))
            message = {"role": "assistant", "content": text}
            if reply.thinking:
                message["reasoning_content"] = reply.thinking
            choices.append({"index": index, "message": message, "finish_reason": reply.finish or "stop", "logprobs": None})
            output += words(text) + words(reply.thinking)
            reasoning += words(reply.thinking)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": output,
                "total_tokens": prompt + output,
                "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens, prompt)},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            },
        }

    def anthropic_messages(self, body: dict) -> dict:
        prompt = words(body.get("system")) + sum(words(m.get("content")) for m in body.get("messages", []))
        cached = min(self.cached_tokens, prompt)
        self.check_window(prompt, body, anthropic=True)
        if marked(body):
            inputs = self.prompt_cache.usage(body)
        else:
            inputs = {"input_tokens": prompt - cached, "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0}
        reply = self.answers(body, 1)[0]
        text, sequence = cut_at_stop(reply.text, body.get("stop_sequences"))
        content = [{"type": "thinking", "thinking": reply.thinking, "signature": "fake"}] if reply.thinking else []
        content.append({"type": "text", "text": text})
        return {
            "id": f"msg_{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": content,
            "stop_reason": "max_tokens" if reply.finish == "length" else "stop_sequence" if sequence else "end_turn",
            "stop_sequence": sequence,
            "usage": {
                **inputs,
                "output_tokens": words(text) + words(reply.thinking),
                **({"output_tokens_details": {"thinking_tokens": words(reply.thinking)}} if self.thinking_details else {}),
            },
        }

    def error_body(self, path: str, status: int, message: str) -> dict:
        """An error in the format of the endpoint's API."""
        if path == "/v1/messages":
            kinds = {
                400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                429: "rate_limit_error", 529: "overloaded_error",
            }
            return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}
        kinds = {400: "invalid_request_error", 401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
        return {"error": {"message": message, "type": kinds.get(status, "server_error"), "param": None, "code": None}}


def _reply(value: str | Reply) -> Reply:
    return value if isinstance(value, Reply) else Reply(str(value))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is no error
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.handle_request()

    def do_POST(self) -> None:
        self.handle_request()

    def handle_request(self) -> None:
        server = self.owner
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.command, self.path.split("?", 1)[0], headers, body)
        with server._lock:
            server.requests.append(request)
        route = server.routes.get((request.method, request.path))
        try:
            if route is None:
                raise HTTPError(404, f"fake server: no route {request.method} {request.path}")
            server.check(request)
            fault = server.next_fault() if request.method == "POST" else None
            if fault and fault[0] == "hang":
                server._closing.wait(fault[1])
                self.close_connection = True
                return
            if fault and fault[0] == "malformed":
                self.send(200, b'{"id": "broken", "choices": [{"index": 0, "mess', {})
                return
            if fault and fault[0] == "status":
                retry = {"retry-after": str(fault[2])} if len(fault) > 2 else {}
                raise HTTPError(fault[1], f"fake server: injected status {fault[1]}", retry)
            if fault:
                raise HTTPError(400, f"fake server: unknown fault {fault!r}")
            request.reply = route(body or {})
            self.send(200, json.dumps(request.reply).encode(), {})
        except HTTPError as e:
            self.send(e.status, json.dumps(server.error_body(request.path, e.status, e.message)).encode(), e.headers)

    def send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def fake_server():
    """A running FakeServer with an empty script; stopped after the test."""
    with FakeServer() as server:
        yield server
