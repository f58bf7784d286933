"""Budget forcing (s1, Muennighoff et al. 2025): how much one model call may think.

`ThinkingConfig` is the setting of one call site (agent steps, summarizer, judge). `force()` is s1's two-phase
procedure over a raw prompt: the chat template's generation prompt (rendered by the server's own template on vLLM,
by the model row's template for llama.cpp) followed by the prefill; a provider only supplies `Continue`, one
generation from a prefill. Which route a call's setting takes (this procedure, a server's native cap, Anthropic's
budget_tokens, OpenAI's reasoning_effort) is decided by thinking_policy.py; `reasoning_effort()` reads the
documented mapping table.

Token counts are the server's: thinking tokens are the tokens the server reports as generated during the
thinking phase (the close tag a phase stopped at included, as the server counts it); inserted text (the open
tag, the extension word, a forced close tag) is prompt, not generation, and is not counted as thinking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from codescale.agent.records import Usage


class ThinkingConfig(BaseModel):
    """Thinking budget of one model call: a cap, a minimum (extension by "Wait"), the delimiters."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(None, ge=0)
    """Cap on thinking tokens per call; at the cap the close tag is appended and the model answers. None: no cap
    of its own (the call's max_tokens still bounds the thinking phase)."""
    min_tokens: int = Field(0, ge=0)
    """When the model closes its thinking before this many tokens, the close is replaced by `extend_with`."""
    extend_with: str = "Wait"
    """Text appended in place of an early close tag."""
    max_extensions: int = Field(2, ge=0)
    """Most extensions per call; after them an early close stands."""
    think_open: str | None = None
    """Tag that opens thinking; None: the model row's in configs/models.yaml (default `<think>`)."""
    think_close: str | None = None
    """Tag that closes thinking; None: the model row's in configs/models.yaml (default `</think>`)."""
    strategy: Literal["auto", "forced", "native"] = "auto"
    """`forced`: always the two-phase procedure; `native`: a server-side cap in one request (a minimum is then
    not honoured); `auto`: native for a cap-only setting where the model row says the server has it, else forced."""


class Segment(BaseModel):
    """What one generation from a prefill gave."""

    text: str
    """Generated text, without a stop sequence that ended it."""
    finish_reason: str
    """`stop` (a stop sequence or the end of the message) or `length` (max_tokens reached)."""
    usage: Usage
    """The server's counts for this request."""
    ended_turn: bool = False
    """The model ended its turn (end of message), not at one of the stop strings it was given."""


class Forced(BaseModel):
    """The outcome of the two-phase procedure."""

    thinking: str
    """Thinking text between the tags, extension words included."""
    text: str
    """The answer after the close tag."""
    finish_reason: str
    usage: Usage
    """Summed over every request; `thinking_tokens` = tokens generated in the thinking phase."""
    extensions: int
    capped: bool
    thinks: bool = True
    """False when the model ended its turn inside the thinking phase: it does not think, `text` is its answer."""


Continue = Callable[[str, int, list[str] | None], Segment]
"""`(prefill, max_tokens, stop) -> Segment`: generate after the assistant text `prefill` (one request)."""


def force(
    generate: Continue, config: ThinkingConfig, *, max_tokens: int, head: str, close_tag: str, stop: list[str] | None
) -> Forced:
    """s1's procedure. Phase 1: generate thinking after `head` (the open tag and a newline, or nothing when the chat
    template's generation prompt already opened thinking) with `close_tag` as stop, at most the remaining budget per
    request; an early close (before `min_tokens`) is replaced by `extend_with` and thinking goes on, at most
    `max_extensions` times; at the budget the close tag is appended. Phase 2: the answer, up to `max_tokens`.
    A request that ends the model's turn instead of closing thinking gives its answer: at the first request, the
    model does not think (`thinks` False, no extension, no second request); right after an extension, what it wrote
    after the extension word is its answer (the thinking before stands, no answer request)."""
    cap = max_tokens if config.max_tokens is None else config.max_tokens
    thought, used, extensions, capped, usage = "", 0, 0, False, Usage()
    while True:
        if used >= cap:
            capped = True
            break
        segment = generate(head + thought, cap - used, [close_tag])
        usage = usage + segment.usage
        if segment.ended_turn:  # it answered without closing its thinking: this request's text is the answer
            usage.thinking_tokens = used
            return Forced(
                thinking=thought.strip(), text=cut_at_stop(segment.text.strip(), stop), finish_reason="stop",
                usage=usage, extensions=extensions, capped=False, thinks=bool(extensions),
            )
        used, thought = used + segment.usage.output_tokens, thought + segment.text
        if segment.finish_reason == "length":
            capped = True
            break
        if used >= config.min_tokens or extensions >= config.max_extensions or used >= cap:
            break
        thought += ("" if (head + thought)[-1:].isspace() else " ") + config.extend_with
        extensions += 1
    thought = thought.rstrip() + "\n"
    answer = generate(head + thought + close_tag + "\n\n", max_tokens, stop)
    usage = usage + answer.usage
    usage.thinking_tokens = used
    return Forced(
        thinking=thought.strip(),
        text=answer.text.lstrip(),
        finish_reason=answer.finish_reason,
        usage=usage,
        extensions=extensions,
        capped=capped,
    )


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """`text` up to the first of the stop strings (a request that ended the turn while thinking was not given them)."""
    cuts = [text.index(s) for s in stop or [] if s and s in text]
    return text[: min(cuts)] if cuts else text


EFFORT_TABLE = "reasoning_effort"
"""Key of the mapping table in configs/models.yaml."""


def reasoning_effort(max_tokens: int | None, accepted: list[str] | None = None) -> str:
    """OpenAI `reasoning_effort` for a thinking cap, by the table in configs/models.yaml (first row whose
    `up_to` the cap does not exceed; no cap takes the last row). When the model does not accept that value,
    the next accepted one above it is used (else the highest accepted below)."""
    from codescale import configs

    table = configs.load("models")[EFFORT_TABLE]
    effort = table["rows"][-1]["effort"]
    if max_tokens is not None:
        effort = next((r["effort"] for r in table["rows"] if r["up_to"] is not None and max_tokens <= r["up_to"]), effort)
    if not accepted or effort in accepted:
        return effort
    order = table["order"]
    above = [e for e in order[order.index(effort) :] if e in accepted]
    below = [e for e in reversed(order[: order.index(effort)]) if e in accepted]
    return (above or below)[0]
