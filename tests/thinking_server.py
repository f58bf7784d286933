"""A fake vLLM server of a thinking model, for budget forcing (agent/models/thinking.py).

    with ThinkingServer(answer="Done.\n\n```bash\nls\n```", thinks=[3], template=QWEN3) as server:
        ModelConfig(id="vllm/fake", base_url=server.openai_url)

The model writes `<think>`, thought words `t1 t2 ...` (numbered across the whole reply), `</think>`, then the
answer. `thinks[i]` is how many words it thinks before closing, after the open tag (i = 0) and after the i-th
extension word ("Wait"); the last entry repeats; None never closes; ANSWERS writes the answer there without closing
thinking, and ends its turn. `thinker=False`: a model that does not think: it
writes its answer whatever the prompt holds and ends its turn. `answer` is a string or a function of the
conversation's messages.

Like the real servers, it applies a chat template (`template`, tests/chat_templates.py) with Jinja2 over the
messages, and the model reads the rendered prompt: the messages are parsed back from its ChatML turns, and the text
after the last `<|im_start|>assistant\n` is the assistant text it continues (a closed thinking block there, even an
empty one, means thinking is over). Every rendered prompt a request gave the model is in `server.prompts`.

Like vLLM's OpenAI-compatible server:
- `POST /v1/chat/completions` renders the messages (`add_generation_prompt`, `continue_final_message`, which
  cuts the rendering after the final message's content, and `chat_template_kwargs`); both true is HTTP 400;
- `POST /v1/completions` continues a text prompt as it is; a choice names the stop string that ended it in
  `stop_reason` (None at the end of the turn);
- a token is a word with the whitespace before it (`\\s*\\S+`); the reply is cut at `max_tokens` tokens
  (finish_reason `length`), at a `stop` string (cut before it unless `include_stop_str_in_output`; the tokens
  generated up to the one completing it count), or at the end of the message (`stop`);
- `min_tokens`: before that many tokens, neither stop strings nor the end of the message end the reply (vLLM
  ignores stop strings until min_tokens; the model pads with `more`);
- `thinking_token_budget` (a fresh reply only, when `native=True`): the close tag is forced after that many
  thought tokens, and the reply is split into `reasoning` and `content` as a reasoning parser does;
- `usage` counts the rendered prompt's tokens and the generated tokens;
- `POST /tokenize` (at the root) with `prompt`, or with `messages` (rendered by the template), returns
  `{"count", "max_model_len", "tokens"}`; `POST /detokenize` with `tokens` returns `{"prompt"}`.
With `llama=True` it is llama.cpp's server instead: no `stop_reason`, and `POST /extras/tokenize/count`.
Every request is recorded in `server.requests`, as in FakeServer.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator

from chat_templates import CHATML, render
from fake_server import FakeServer, HTTPError

TOKEN = re.compile(r"\s*\S+")
PIECE = re.compile(r"\s*\S+|\s+")
TURN = "<|im_start|>assistant\n"
ANSWERS = "answers"
"""An entry of `thinks`: at that point the model writes its answer without closing its thinking and ends its turn."""


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


class ThinkingServer(FakeServer):
    def __init__(
        self,
        answer: str | Callable[[list[dict]], str] = "The answer.",
        thinks: list[int | str | None] = (None,),
        *,
        open_tag: str = "<think>",
        close_tag: str = "</think>",
        extend_word: str = "Wait",
        native: bool = False,
        thinker: bool = True,
        template: str = CHATML,
        llama: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.answer, self.thinks, self.thinker = answer, list(thinks), thinker
        self.open_tag, self.close_tag, self.extend_word, self.native = open_tag, close_tag, extend_word, native
        self.template, self.llama = template, llama
        self.prompts: list[str] = []
        """The rendered prompt the model was given, one per generation request, in arrival order."""
        self.vocabulary: dict[str, int] = {}
        self.routes[("POST", "/v1/chat/completions")] = self.vllm_chat
        self.routes[("POST", "/v1/completions")] = self.raw_completion
        if llama:
            self.routes[("POST", "/extras/tokenize/count")] = self.llama_count
        else:
            self.routes[("POST", "/tokenize")] = self.tokenize
            self.routes[("POST", "/detokenize")] = self.detokenize

    # --- the model -----------------------------------------------------------------------------

    def continuation(self, messages: list[dict], prefill: str, budget: int | None) -> Iterator[str]:
        """The tokens the model writes after the assistant text `prefill`, up to the end of the message."""
        if self.close_tag in prefill or not self.thinker:
            yield from tokens(self.reply_text(messages))
            return
        if self.open_tag not in prefill:
            yield self.open_tag
            prefill = self.open_tag
        thinking = prefill.split(self.open_tag, 1)[1]
        numbered = itertools.count(sum(1 for w in thinking.split() if re.fullmatch(r"t\d+", w)) + 1)
        segment = thinking.split().count(self.extend_word)
        said = len(re.split(rf"\b{re.escape(self.extend_word)}\b", thinking)[-1].split())
        plan = self.thinks[min(segment, len(self.thinks) - 1)]
        if plan == ANSWERS:
            yield from tokens(" " + self.reply_text(messages))
            return
        thought = 0
        while (plan is None or said < plan) and (budget is None or thought < budget):
            yield f" t{next(numbered)}"
            said, thought = said + 1, thought + 1
        yield f" {self.close_tag}"
        yield from tokens("\n\n" + self.reply_text(messages))

    def reply_text(self, messages: list[dict]) -> str:
        return self.answer(messages) if callable(self.answer) else self.answer

    # --- the server ----------------------------------------------------------------------------

    def read(self, prompt: str, budget: int | None, body: dict) -> dict:
        """The model given the rendered `prompt`: it reads the conversation and the assistant text it continues."""
        with self._lock:
            self.prompts.append(prompt)
        head, opening, prefill = prompt.rpartition(TURN)
        if not opening:
            raise HTTPError(400, "fake server: the prompt does not end in an open assistant turn")
        turns = re.findall(r"<\|im_start\|>(\w+)\n(.*?)<\|im_end\|>\n", head, re.S)
        messages = [{"role": role, "content": content} for role, content in turns]
        text, generated, finish, stop_reason = self.generate(self.continuation(messages, prefill, budget), body)
        prompt_tokens = len(tokens(prompt))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": generated, "total_tokens": prompt_tokens + generated}
        return {"text": text, "finish_reason": finish, "stop_reason": stop_reason, "usage": usage}

    def vllm_chat(self, body: dict) -> dict:
        messages = list(body.get("messages", []))
        continues = bool(body.get("continue_final_message"))
        if continues and body.get("add_generation_prompt", True):
            raise HTTPError(400, "Cannot set both `continue_final_message` and `add_generation_prompt` to True.")
        if continues and (not messages or messages[-1].get("role") != "assistant"):
            raise HTTPError(400, "continue_final_message needs a final assistant message")
        prompt = self.rendered(messages, body.get("add_generation_prompt", True), body.get("chat_template_kwargs"))
        if continues:  # as vLLM: the rendering is cut after the final message's content
            final = messages[-1]["content"]
            prompt = prompt[: prompt.rindex(final) + len(final)]
        budget = body.get("thinking_token_budget") if self.native and not continues else None
        out = self.read(prompt, budget, body)
        text = out["text"]
        message = {"role": "assistant", "content": text}
        if budget is not None and self.close_tag in text:
            reasoning, content = text.split(self.close_tag, 1)
            reasoning = reasoning.replace(self.open_tag, "").strip()
            message = {"role": "assistant", "content": content.strip(), "reasoning": reasoning}
        choice = {"index": 0, "message": message, "finish_reason": out["finish_reason"], "logprobs": None}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [choice | {"stop_reason": out["stop_reason"]}],
            "usage": out["usage"],
        }

    def raw_completion(self, body: dict) -> dict:
        out = self.read(body.get("prompt", ""), None, body)
        choice = {"index": 0, "text": out["text"], "finish_reason": out["finish_reason"], "logprobs": None}
        if not self.llama:
            choice["stop_reason"] = out["stop_reason"]
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [choice],
            "usage": out["usage"],
        }

    def rendered(self, messages: list[dict], generation_prompt: bool, kwargs: dict | None) -> str:
        return render(self.template, messages, add_generation_prompt=generation_prompt, **(kwargs or {}))

    def generate(self, stream: Iterator[str], body: dict) -> tuple[str, int, str, str | None]:
        """Apply max_tokens, min_tokens and stop to the model's tokens: (text, tokens generated, finish, stop)."""
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 100_000
        minimum = body.get("min_tokens") or 0
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        text, count = "", 0
        while count < limit:
            token = next(stream, None)
            if token is None:  # the end of the message, unless min_tokens holds it off
                if count >= minimum:
                    return text, count, "stop", None
                token = " more"
            before, text, count = len(text), text + token, count + 1
            if count <= minimum:
                continue
            for stop in stops:
                at = text.find(stop, max(0, before - len(stop) + 1))
                if at >= 0:
                    end = at + len(stop) if body.get("include_stop_str_in_output") else at
                    return text[:end], count, "stop", stop
        return text, count, "length", None

    def tokenize(self, body: dict) -> dict:
        if "messages" in body:
            text = self.rendered(body["messages"], body.get("add_generation_prompt", True), body.get("chat_template_kwargs"))
        else:
            text = body.get("prompt", "")
        with self._lock:
            ids = [self.vocabulary.setdefault(piece, len(self.vocabulary)) for piece in PIECE.findall(text)]
        return {"count": len(tokens(text)), "max_model_len": 32768, "tokens": ids}

    def detokenize(self, body: dict) -> dict:
        pieces = {i: piece for piece, i in self.vocabulary.items()}
        return {"prompt": "".join(pieces[i] for i in body.get("tokens", []))}

    def llama_count(self, body: dict) -> dict:
        return {"count": len(tokens(body.get("input", "")))}
