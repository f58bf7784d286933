"""The agent loop: ask the model, run its one bash command, send the output back, until it submits.

Control flow is carried by exceptions (`Submitted`, `LimitReached`, `FormatError`, `ContextFull`), each holding what
to record. The trajectory is saved after every step, so a crash loses at most the step in flight. Each model call is
sent the trajectory's own messages (`Trajectory.messages`: its opening prompt, the latest condensation of older steps
if any, then every later step's reply and what was sent back), so what a step was sent is always recoverable from the
file. Before each request the conversation is fitted to the model's context window (agent/context.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs
from codescale.agent.condense import CondenseConfig
from codescale.agent.context import Context, ContextFull
from codescale.agent.models.base import CapReached, ContextLengthError, Model, ModelError
from codescale.agent.models.call import Completion
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.records import ExitStatus, Step, Task, Trajectory, now
from codescale.agent.templates import fresh_key, render
from codescale.sandboxes.base import Output, Sandbox, SandboxError
from codescale.sandboxes.lifecycle import Stopped, shutting_down


def _prompts() -> dict:
    return configs.load("agent")["agent"]


class AgentConfig(BaseModel):
    """Limits and prompts of one rollout. Prompt defaults come from configs/agent.yaml."""

    model_config = ConfigDict(extra="forbid")

    step_limit: int = Field(100, ge=0)
    """Model calls per rollout; 0 = no limit."""
    cost_limit: float = Field(0.0, ge=0)
    """USD per rollout; 0 = no limit."""
    token_limit: int = Field(0, ge=0)
    """Input plus output tokens per rollout, its condensations' included; 0 = no limit. Reaching it ends with exit
    status token_limit."""
    time_limit: float = Field(3600.0, ge=0)
    """Wall seconds per rollout; 0 = no limit."""
    thinking: ThinkingConfig | None = None
    """Budget forcing of every step's model call; None = the model's default thinking."""
    shell_state: Literal["fresh", "persistent"] = "fresh"
    """`fresh`: every command starts in a new shell in the work directory; `persistent`: the directory, variables,
    functions, aliases and options a command leaves carry over to the next (a Terminus-style harness; needs the docker
    sandbox with `sandbox.shell: session`), and the agent is told so by `persistent_system_template`."""
    context: Literal["condense", "stop"] = "condense"
    """Near the model's context window: `condense` older steps into a structured summary and go on (`condense`
    says when and how), or `stop` with exit status context_limit (the patch so far is kept)."""
    condense: CondenseConfig = Field(default_factory=CondenseConfig)
    """When and how older steps are condensed, and by which model (agent/condense.py)."""
    max_format_errors: int = Field(3, ge=1)
    """Consecutive replies without exactly one command before the rollout ends with format_error."""
    extra_actions: Literal["error", "first"] = "error"
    """A reply with several commands: `error` (a format error, nothing runs) or `first` (the first runs, the rest
    are ignored; for small models that write a whole plan of blocks in one reply)."""
    observation_limit: int = Field(default_factory=lambda: _prompts()["observation_limit"])
    """Characters of command output shown to the model; longer output shows its head and tail."""
    submit_sentinel: str = Field(default_factory=lambda: _prompts()["submit_sentinel"])
    """A command whose output starts with this line submits."""
    action_regex: str = Field(default_factory=lambda: _prompts()["action_regex"])
    """Finds the command in a reply (DOTALL); exactly one match is required."""
    system_template: str = Field(default_factory=lambda: _prompts()["system_template"])
    persistent_system_template: str = Field(default_factory=lambda: _prompts()["persistent_system_template"])
    """The system prompt when `shell_state` is persistent."""
    instance_template: str = Field(default_factory=lambda: _prompts()["instance_template"])
    observation_template: str = Field(default_factory=lambda: _prompts()["observation_template"])
    format_error_template: str = Field(default_factory=lambda: _prompts()["format_error_template"])


class Submitted(Exception):
    """The agent ran the submit command."""


class LimitReached(Exception):
    def __init__(self, status: ExitStatus, message: str):
        super().__init__(message)
        self.status = status


class FormatError(Exception):
    """The reply did not hold exactly one command; the message is what the model is told."""


MAX_REFUSALS = 3
"""Refusals of one step's request as too long (each met by a condensation) before the rollout ends context_limit."""


class Agent:
    """Runs one rollout of `task` in `sandbox`, saving the trajectory to `path` as it grows."""

    def __init__(self, config: AgentConfig, model: Model, sandbox: Sandbox, trajectory: Trajectory, path: Path):
        self.config = config
        self.model = model
        self.sandbox = sandbox
        self.trajectory = trajectory
        self.path = path
        self.format_errors = 0
        self.takes_diff = True
        """Whether the task's outcome is a diff (its kind's `takes_diff`); a container task has no repository."""
        self._start = time.monotonic()

    def run(self, task: Task, workdir: str = "") -> Trajectory:
        traj = self.trajectory
        self.takes_diff = task.takes_diff
        traj.prompt = [
            {"role": "system", "content": render(self.system_template())},
            {
                "role": "user",
                "content": render(
                    self.config.instance_template,
                    task=task,
                    refinement_context=traj.refinement_context,
                    workdir=workdir or task.workdir,
                    key=fresh_key(task.problem_statement, traj.refinement_context),
                ),
            },
        ]
        self.context = Context(self.config.context, self.config.condense, self.model, task, traj,
                               thinking=self.config.thinking, save=lambda: traj.save(self.path))
        traj.save(self.path)
        try:
            while True:
                self.check_limits()
                self.step()
        except Submitted:
            self.finish("submitted")
        except LimitReached as e:
            self.finish(e.status, str(e))
        except ContextFull as e:
            self.finish("context_limit", str(e))
        except CapReached as e:  # its task's spending cap: the rollout ends like one at its own cost limit
            self.finish("cost_limit", str(e))
        except ModelError as e:
            self.finish("model_error", str(e))
        except SandboxError as e:
            if shutting_down():  # removed by an interrupt: what was saved stays unfinished, so a resume runs it again
                raise Stopped(str(e)) from None
            self.finish("sandbox_error", str(e))
        return traj

    def system_template(self) -> str:
        c = self.config
        return c.persistent_system_template if c.shell_state == "persistent" else c.system_template

    def check_limits(self) -> None:
        c, usage, steps = self.config, self.trajectory.usage, len(self.trajectory.steps)
        if c.step_limit and steps >= c.step_limit:
            raise LimitReached("step_limit", f"reached {c.step_limit} steps")
        if c.cost_limit and (usage.cost_usd or 0.0) >= c.cost_limit:
            raise LimitReached("cost_limit", f"spent ${usage.cost_usd:.4f} of ${c.cost_limit}")
        if c.token_limit and usage.tokens >= c.token_limit:
            raise LimitReached("token_limit", f"used {usage.tokens} of {c.token_limit} tokens")
        if c.time_limit and time.monotonic() - self._start >= c.time_limit:
            raise LimitReached("time_limit", f"ran past {c.time_limit:g} s")

    def step(self) -> None:
        messages = self.trajectory.messages()
        self.context.fit(messages)  # a condensation is recorded in the trajectory: `messages` stays its messages()
        started, t0 = now(), time.monotonic()
        completion = self.ask(messages)
        model_seconds = time.monotonic() - t0
        step = Step(
            index=len(self.trajectory.steps),
            response=completion.text,
            thinking=completion.thinking,
            usage=completion.usage,
            extensions=completion.extensions,
            capped=completion.capped,
            started_at=started,
            model_seconds=model_seconds,
        )
        self.context.seen([*messages, {"role": "assistant", "content": completion.text}], completion.usage)
        try:
            step.action = self.parse_action(completion.text)
        except FormatError as e:
            step.observation = str(e)
            self.record(step, t0)
            self.format_errors += 1
            if self.format_errors >= self.config.max_format_errors:
                raise LimitReached("format_error", f"{self.format_errors} replies in a row without one command")
            return
        self.format_errors = 0
        try:
            self.sandbox.ready()  # started in the background while the model answered; waits only the first time
        except SandboxError:
            self.record(step, t0)  # the call counts; its command never ran
            raise
        t1 = time.monotonic()
        try:
            if step.action == f"echo {self.config.submit_sentinel}":  # its output is known: no round trip to run it
                output = Output(returncode=0, output=f"{self.config.submit_sentinel}\n")
            else:
                output = self.sandbox.execute(step.action, persistent=self.config.shell_state == "persistent")
        finally:
            step.command_seconds = time.monotonic() - t1
        step.returncode, step.timed_out = output.returncode, output.timed_out
        if output.output.lstrip().split("\n", 1)[0].strip() == self.config.submit_sentinel:
            if self.takes_diff:
                self.trajectory.patch = self.sandbox.diff()
            step.observation = output.output
            self.record(step, t0)
            raise Submitted()
        step.observation = self.observe(output)
        self.record(step, t0)

    def ask(self, messages: list[dict]) -> Completion:
        """The model's reply to `messages`; a request the server refuses as too long is condensed (or the rollout
        stopped) and sent again."""
        for _ in range(MAX_REFUSALS):
            try:
                return self.model.complete(messages, thinking=self.config.thinking, cache=True)[0]
            except ContextLengthError as e:
                self.context.refused(messages, e)
        raise ContextFull(f"the server refused the request as too long {MAX_REFUSALS} times, condensed each time")

    def parse_action(self, text: str) -> str:
        actions = re.findall(self.config.action_regex, text, re.DOTALL)
        if len(actions) > 1 and self.config.extra_actions == "first":
            actions = actions[:1]
        if len(actions) != 1:
            raise FormatError(render(self.config.format_error_template, count=len(actions)))
        return actions[0].strip()

    def observe(self, output: Output) -> str:
        return render(self.config.observation_template, output=output, limit=self.config.observation_limit)

    def record(self, step: Step, t0: float) -> None:
        step.seconds = time.monotonic() - t0
        traj = self.trajectory
        traj.steps.append(step)
        traj.usage = traj.usage + step.usage
        traj.seconds = time.monotonic() - self._start
        traj.save(self.path)

    def finish(self, status: ExitStatus, error: str = "") -> None:
        traj = self.trajectory
        traj.exit_status, traj.error = status, error
        traj.notes = self.model.notes
        if status not in ("submitted", "sandbox_error") and self.takes_diff:  # keep the work so far as the patch
            try:
                traj.patch = self.sandbox.diff()
            except SandboxError as e:
                traj.error = f"{error}; diff failed: {e}".lstrip("; ")
        traj.seconds = time.monotonic() - self._start
        traj.save(self.path)
