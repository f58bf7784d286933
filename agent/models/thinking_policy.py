"""The thinking policy: how one Model's calls honour their thinking setting (`ThinkingConfig`, thinking.py), decided
here for every backend, so that providers only translate.

A call's setting takes one route, chosen by the model's row in configs/models.yaml (`thinking`, `thinks`,
`chat_template`, `efforts`) and by what the provider declares it can do (`thinking_control`, `continues`, call.py):

- `native`: one request under the server's own cap (vLLM `thinking_token_budget`), when asked for or when the row
  says the server has one and the setting is a cap only; the thinking is counted by the server's tokenizer.
- `forced`: s1's procedure (`force`) over a raw prompt that the provider continues: rendered by the server's own
  template (vLLM), or by the row's template for servers that cannot render one (llama.cpp). A model found not to
  think (it ended its turn inside the thinking phase) is not forced again: its reply is the answer.
- `budget`: Anthropic extended thinking, `budget_tokens` = the cap.
- `effort`: OpenAI reasoning models, `reasoning_effort` mapped from the cap.
- `plain`: the setting is not applied.

Whatever a route cannot honour (a minimum, an exact cap) is noted once, in the log and in the Model's notes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from codescale.agent.models.call import Completion, Provider, Request, ThinkingControl
from codescale.agent.models.catalog import ModelInfo
from codescale.agent.models.notes import note
from codescale.agent.models.thinking import ThinkingConfig, force, reasoning_effort

Route = Literal["native", "forced", "budget", "effort", "plain"]

NO_THINKING = "this model does not think"
"""Start of the note for a model that does not think (said once per model in the run record)."""


class ThinkingPolicy:
    """The thinking decisions of one Model: the route of each call, what its provider is handed, and whether the
    model was found not to think."""

    def __init__(self, model_id: str, info: ModelInfo, provider: Provider, notes: list[str]):
        self.model_id = model_id
        self.info = info
        self.provider = provider
        self.notes = notes
        self.found_not_thinking = False
        """Set when the model ended its turn inside the thinking phase: its calls are not forced again."""

    @property
    def thinks(self) -> bool:
        """Whether forcing is attempted: not for a `thinks: false` row or a model found not to think."""
        return self.info.thinks and not self.found_not_thinking

    def complete(self, request: Request, thinking: ThinkingConfig | None) -> list[Completion]:
        """One attempt at a call: `request.n` forced replies, or one provider call with the route's control."""
        route = "plain" if thinking is None else self.route(thinking)
        if route == "forced":
            return [self.forced(request, thinking) for _ in range(request.n)]
        control = self.control(route, thinking, request.max_tokens)
        return self.counted(self.provider.generate(replace(request, thinking=control)), control)

    def route(self, thinking: ThinkingConfig) -> Route:
        control = self.provider.thinking_control
        if control == "budget":
            return "budget"
        if control == "native" and self.native(thinking):
            return "native"
        if self.can_force():
            if self.thinks:
                return "forced"
            if not self.info.thinks:  # else noted when found out
                self.note(f"{NO_THINKING} (`thinks: false` in configs/models.yaml); the thinking setting is not "
                          "applied")
            return "plain"
        if control == "effort" and self.info.thinking == "effort":
            return "effort"
        self.note("the openai backend cannot control this model's thinking (no `thinking: effort` row in "
                  "configs/models.yaml); the thinking setting is not applied (the vllm backend can force it)")
        return "plain"

    def native(self, thinking: ThinkingConfig) -> bool:
        """Whether a setting goes to the server's own cap in one request: asked for (`strategy: native`), or a
        cap-only setting of a model whose row says `thinking: native`."""
        if thinking.strategy == "forced" or thinking.max_tokens is None:
            return False
        if thinking.strategy == "native" or (self.info.thinking == "native" and not thinking.min_tokens):
            if thinking.min_tokens:
                self.note("a thinking minimum is not possible with the native cap; ignored")
            return True
        return False

    def can_force(self) -> bool:
        """Whether the provider can continue a prefill for this model: through the server's own template, or
        through the row's template when the row names one and no other means (`thinking`)."""
        if self.provider.continues == "row":
            return self.info.thinking is None and self.info.chat_template is not None
        return self.provider.continues == "server"

    def control(self, route: Route, thinking: ThinkingConfig | None, max_tokens: int) -> ThinkingControl | None:
        """What the provider's request sends for a one-request route (None: nothing)."""
        if route == "native":
            return ThinkingControl(native_cap=thinking.max_tokens)
        if route == "budget":
            return ThinkingControl(budget_tokens=self.budget(thinking, max_tokens))
        if route == "effort":
            return ThinkingControl(effort=self.effort(thinking))
        return None

    def budget(self, thinking: ThinkingConfig, max_tokens: int) -> int:
        """Anthropic `budget_tokens`: 0 (thinking disabled) for a zero cap, else the cap (without one, the call's
        max_tokens), at least the API minimum."""
        if thinking.max_tokens == 0:
            return 0
        budget = max_tokens if thinking.max_tokens is None else thinking.max_tokens
        minimum = self.provider.min_budget
        if budget < minimum:
            self.note(f"thinking.max_tokens={budget} raised to budget_tokens={minimum}, the API minimum")
            budget = minimum
        if thinking.min_tokens:
            self.note("a thinking minimum is not supported by extended thinking; ignored")
        if thinking.strategy == "forced":
            self.note("forced thinking is not possible on Anthropic; budget_tokens used")
        return budget

    def effort(self, thinking: ThinkingConfig) -> str:
        """OpenAI `reasoning_effort` for the cap, by the table in configs/models.yaml and the row's `efforts`."""
        effort = reasoning_effort(thinking.max_tokens, self.info.efforts)
        self.note(f"thinking.max_tokens={thinking.max_tokens} is sent as reasoning_effort={effort}, a coarse level, "
                  "not an exact cap")
        if thinking.min_tokens:
            self.note("a thinking minimum is not supported (reasoning_effort); ignored")
        return effort

    def counted(self, completions: list[Completion], control: ThinkingControl | None) -> list[Completion]:
        """Replies under a cap marked `capped` when their thinking reached it (or, under a budget, when the reply was
        cut before any answer); a native cap's thinking counted by the server's tokenizer when the server reported no
        reasoning tokens."""
        if control is not None and control.native_cap is not None:
            for c in completions:
                if c.thinking and not c.usage.thinking_tokens and c.usage.requests:
                    c.usage.thinking_tokens = self.provider.count_tokens(c.thinking)
                c.capped = c.usage.thinking_tokens >= control.native_cap
        elif control is not None and control.budget_tokens:
            for c in completions:  # cut at the reply's cap with no answer yet: thinking ran into the cap too
                c.capped = c.usage.thinking_tokens >= control.budget_tokens or (
                    c.finish_reason == "length" and not c.text.strip())
        return completions

    def forced(self, request: Request, thinking: ThinkingConfig) -> Completion:
        """One reply under s1 budget forcing, generated by the provider's `continuation`. The prefill opens thinking
        unless the generation prompt already ends in the open tag."""
        open_tag = thinking.think_open or self.info.think_open
        generate, prompt = self.provider.continuation(request.messages, request.temperature)
        head = "" if prompt.rstrip().endswith(open_tag) else open_tag + "\n"
        close_tag = thinking.think_close or self.info.think_close
        result = force(generate, thinking, max_tokens=request.max_tokens, head=head, close_tag=close_tag,
                       stop=request.stop)
        if not result.thinks:
            self.found_not_thinking = True
            self.note(f"{NO_THINKING}: it ended its turn inside the thinking phase, so its reply is the answer and "
                      "the thinking setting is not applied")
        return Completion(**result.model_dump(exclude={"thinks"}))

    def note(self, message: str) -> None:
        note(self.notes, f"{self.model_id}: {message}")
