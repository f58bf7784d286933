"""The conversation an agent sends, held within the model's context window (`agent.context: condense | stop`).

Before each request the loop calls `fit`. The request's tokens are counted by the server's tokenizer where it has
one (vLLM's /tokenize), else taken from the last reply's usage (its prompt and visible answer) plus an estimate of
the messages added since, else estimated; room for the reply (the call's max_tokens and thinking cap, at most a
quarter of the window) comes on top. The window is the model's (agent/models/window.py), looked up only once a
conversation is longer than any window's worth.

- `condense`: when the request would pass `agent.condense.threshold` of the window, the steps since the last
  condensation but the latest `keep_steps` are condensed (agent/condense.py): the system and instance messages stay,
  a message holding the summary takes the steps' place, the latest steps follow verbatim (none, when they do not fit
  with it). Each condensation is recorded in the trajectory (agent/records.py, `Condensation`).
- `stop`: a request that would pass the window ends the rollout with `context_limit`.

A server's refusal of a request as too long (ContextLengthError) is met the same way: condensed and asked again, or
stopped. When even a condensed request does not fit, the rollout ends with `context_limit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from codescale.agent.compact import estimate_tokens
from codescale.agent.condense import CondenseConfig, Condenser, condensing_model
from codescale.agent.models.base import ContextLengthError, Model
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.records import Condensation, Task, Trajectory, Usage
from codescale.agent.templates import render

Policy = Literal["condense", "stop"]

SURELY_FITS = 1024
"""Tokens of a prompt that every window holds with room to answer (llama.cpp's smallest default is 2048): a shorter
conversation is sent without looking its window up."""
MESSAGE_TOKENS = 4
"""Estimated tokens a chat template adds around each message."""
HEAD = 2
"""The messages that always stay: the system and the instance message."""


class ContextFull(Exception):
    """The next request does not fit the model's window (`stop`, or `condense` with nothing left to condense)."""


def estimate(messages: list[dict]) -> int:
    return sum(estimate_tokens(str(m.get("content") or "")) + MESSAGE_TOKENS for m in messages)


class Context:
    """Keeps one rollout's conversation within its model's window; condensations go into `trajectory`."""

    def __init__(self, policy: Policy, config: CondenseConfig, model: Model, task: Task, trajectory: Trajectory, *,
                 thinking: ThinkingConfig | None, save: Callable[[], None]):
        self.policy = policy
        self.config = config
        self.model = model
        self.task = task
        self.trajectory = trajectory
        self.thinking = thinking
        self.save = save
        self.first_kept = 0
        """The first step still verbatim in the conversation."""
        self.basis: tuple[int, int] | None = None
        """(messages, tokens): the conversation's first `messages` held `tokens`, as the last reply's usage says."""
        self._condenser: Condenser | None = None

    def seen(self, messages: list[dict], usage: Usage) -> None:
        """A reply was appended to `messages`: its request's prompt and its visible answer are the new basis."""
        if not usage.requests or not usage.input_tokens:
            self.basis = None
            return
        visible = max(0, usage.output_tokens - usage.thinking_tokens)
        self.basis = (len(messages), usage.input_tokens // usage.requests + visible)

    def count(self, messages: list[dict], exact: bool = False) -> int:
        """Tokens of a request holding `messages`; with `exact`, by the server's tokenizer where it has one."""
        if exact:
            counted = self.model.count_tokens(messages)
            if counted is not None:
                return counted
        if self.basis is not None and self.basis[0] <= len(messages):
            held, tokens = self.basis
            return tokens + estimate(messages[held:])
        return estimate(messages)

    def reserve(self, window: int) -> int:
        """Room for the reply: the call's max_tokens and thinking cap, at most a quarter of the window."""
        reply = self.model.config.max_tokens
        if self.thinking is not None:
            reply += self.model.config.max_tokens if self.thinking.max_tokens is None else self.thinking.max_tokens
        return min(reply, window // 4)

    def fit(self, messages: list[dict]) -> None:
        """Make the next request fit: nothing to do, condensed in place, or ContextFull."""
        if self.count(messages) <= SURELY_FITS:
            return
        tokens, window = self.count(messages, exact=True), self.model.context_window
        reserve = self.reserve(window)
        if self.policy == "stop":
            if tokens + reserve > window:
                raise ContextFull(f"the next request holds {tokens} tokens and room for a reply of {reserve}: more "
                                  f"than the model's window of {window}")
            return
        if tokens + reserve > self.config.threshold * window:
            self.condense(messages, "threshold", tokens)

    def refused(self, messages: list[dict], error: ContextLengthError) -> None:
        """The server refused the request as longer than its window: condensed in place, or ContextFull."""
        if self.policy == "stop":
            raise ContextFull(f"the server refused the request as longer than the model's window: {error}")
        tokens, window = self.count(messages, exact=True), self.model.context_window
        if error.window is None and tokens + self.reserve(window) < window:  # it holds less than this request
            self.model.learn_window(tokens + self.reserve(window))
        self.condense(messages, "refusal", tokens)

    def condense(self, messages: list[dict], reason: Literal["threshold", "refusal"], tokens: int) -> None:
        """Fold the steps since the last condensation into a new one, keeping the latest `keep_steps` verbatim; again
        with none kept when the request still does not fit; ContextFull when nothing is left to fold."""
        steps = self.trajectory.steps
        window = self.model.context_window
        target = window * self.config.threshold - self.reserve(window)
        for keep in dict.fromkeys((min(self.config.keep_steps, len(steps) - self.first_kept), 0)):
            if len(steps) - keep <= self.first_kept:
                continue
            tokens = self.fold(messages, reason, tokens, keep, window)
            if tokens <= target:
                return
        raise ContextFull(f"the request holds {tokens} tokens with every step condensed, more than "
                          f"{self.config.threshold:g} of the model's window of {window} with room for a reply")

    def fold(self, messages: list[dict], reason: Literal["threshold", "refusal"], tokens: int, keep: int,
             window: int) -> int:
        """One condensation of steps `first_kept` .. (all but the latest `keep`), recorded; the request's tokens after."""
        start = time.monotonic()
        steps = self.trajectory.steps[self.first_kept:len(self.trajectory.steps) - keep]
        latest = self.trajectory.condensations[-1].summary if self.trajectory.condensations else ""
        written = self.condenser().write(self.task, latest, steps)
        message = render(self.config.message_template, summary=written.summary, last=steps[-1].index)
        kept = messages[len(messages) - 2 * keep:] if keep else []  # each step is its reply and what it was told
        messages[:] = [*messages[:HEAD], {"role": "user", "content": message}, *kept]
        self.first_kept, self.basis = steps[-1].index + 1, None
        after = self.count(messages, exact=True)
        self.trajectory.condensations.append(Condensation(
            at_step=len(self.trajectory.steps), first_step=steps[0].index, last_step=steps[-1].index, reason=reason,
            window=window, tokens_before=tokens, tokens_after=after, summary=written.summary, message=message,
            usage=written.usage, seconds=time.monotonic() - start, fallback=written.fallback, error=written.error,
        ))
        self.trajectory.usage = self.trajectory.usage + written.usage
        self.save()
        return after

    def condenser(self) -> Condenser:
        if self._condenser is None:
            self._condenser = Condenser(self.config, condensing_model(self.config, self.model))
        return self._condenser
