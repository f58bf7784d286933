"""The records of one rollout: Task, Usage, Step, Trajectory (JSON on disk)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from codescale.agent.diff import diff_stat
from codescale.agent.files import write_atomic
from codescale.agent.task_sandbox import refusal

ExitStatus = Literal[
    "submitted", "step_limit", "cost_limit", "token_limit", "time_limit", "context_limit", "format_error",
    "model_error", "sandbox_error",
]


TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
"""What a task id may be: a name (it names the task's folder in a run directory and its prediction), never a path."""


class Refusal(ValueError):
    """A record that would reach outside its run (an id that is a path) or loosen its sandbox: raised by Task's
    validators, so that a loader can tell it from a record that is merely incomplete."""


def now() -> datetime:
    return datetime.now(timezone.utc)


class Task(BaseModel):
    """One problem to solve: a superset of a SWE-bench instance.

    Its `kind` is chosen once from the record (eval/tasks/kinds/): each kind is a subclass that owns its prompts,
    image, verification and grading. What the lower layers need of a kind is here, with the patch kind's answers:
    whether a rollout's patch is taken (`takes_diff`), what stands for its outcome (`outcome_text`), and why a
    rollout with nothing to show is left out of a selection (`empty_reason`)."""

    model_config = ConfigDict(extra="allow")

    kind: str = "patch"
    """What a rollout produces: `patch` (a change to the repository, graded by its tests) or `container` (the
    container's final state, checked by the task's own tests: Terminal-Bench)."""

    instance_id: str
    """Unique id, e.g. `astropy__astropy-12907`."""
    problem_statement: str
    """The issue text the agent is given."""
    repo: str = ""
    """`owner/name` of the repository, informative."""
    base_commit: str = ""
    """Commit the patch is made against; empty means the sandbox's HEAD at start."""
    hints_text: str = ""
    version: str = ""
    FAIL_TO_PASS: list[str] = []
    PASS_TO_PASS: list[str] = []
    patch: str = ""
    """Gold patch, optional."""
    test_patch: str = ""
    image: str = ""
    """Docker image holding the repository at `workdir` (docker sandbox)."""
    workdir: str = "/testbed"
    repo_dir: str = ""
    """A local git repository (local sandbox, CI bot)."""
    eval_script: str | None = None
    log_parser: str | None = None
    eval_type: str | None = None
    test_runner: str = "pytest"
    """How a generated eval script runs the tests (`pytest` or `unittest`) when `eval_script` is not given."""
    sandbox: dict[str, Any] | None = None
    """Sandbox settings this task tightens over the run's: lower limits, and capabilities from its kind's
    `capabilities` (agent/task_sandbox.py); anything that would loosen the sandbox is refused at load."""

    capabilities: ClassVar[tuple[str, ...]] = ()
    """The Linux capabilities a task of this kind may ask for in its `sandbox` field (`cap_add`)."""

    takes_diff: ClassVar[bool] = True
    """Whether a rollout's outcome is the repository's diff (the agent takes it when it ends)."""
    empty_reason: ClassVar[str] = "empty patch"
    """Why a rollout whose `outcome_text` is empty is left out of a selection."""
    capabilities: ClassVar[tuple[str, ...]] = ()
    """The Linux capabilities a sandbox of this kind of task may hold, at most (none for a patch task); the sandbox
    settings may give it fewer."""

    def outcome_text(self, traj: Trajectory) -> str:
        """What a selection compares and a judge is shown of a rollout's outcome: its patch."""
        return traj.patch

    def outcome_lines(self, traj: Trajectory) -> str:
        """One to three lines on the outcome, for a summary written without a model."""
        stat = diff_stat(traj.patch)
        return f"Files changed:\n{stat}" if stat else "Empty patch."

    @field_validator("instance_id")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if not TASK_ID.fullmatch(value):
            raise Refusal(f"{value!r} is not a task name: it must start with a letter or digit and hold only "
                          "letters, digits and . _ + - (at most 200)")
        return value

    @model_validator(mode="after")
    def _tightens_only(self) -> Task:
        if problem := refusal(self.sandbox, type(self).capabilities):
            raise Refusal(problem)
        return self

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        # SWE-bench datasets store these lists as JSON strings.
        return json.loads(value) if isinstance(value, str) else value


class Usage(BaseModel):
    """Tokens and money spent; tokens are always kept, cost is None when a price is unknown."""

    input_tokens: int = 0
    """Every input token, those read from or written to the prompt cache included."""
    output_tokens: int = 0
    """Every generated token, thinking included."""
    cached_input_tokens: int = 0
    """Input tokens read from the prompt cache (billed at the cached rate)."""
    cache_write_tokens: int = 0
    """Input tokens written to the prompt cache (Anthropic bills them above the input rate)."""
    thinking_tokens: int = 0
    requests: int = 0
    cost_usd: float | None = None

    def __add__(self, other: Usage) -> Usage:
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            thinking_tokens=self.thinking_tokens + other.thinking_tokens,
            requests=self.requests + other.requests,
            cost_usd=sum(costs) if costs else None,
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Step(BaseModel):
    """One model call and the command it asked for."""

    index: int
    response: str
    thinking: str = ""
    action: str | None = None
    """The bash command, or None when the reply had none (a format error)."""
    observation: str = ""
    """What was sent back to the model, truncated as sent."""
    returncode: int | None = None
    timed_out: bool = False
    usage: Usage = Field(default_factory=Usage)
    """The model call's counts; `usage.thinking_tokens` is the thinking it generated."""
    extensions: int = 0
    """Budget forcing: how many times the thinking was extended (the close replaced by "Wait")."""
    capped: bool = False
    """Budget forcing: whether the thinking was cut at its maximum."""
    started_at: datetime = Field(default_factory=now)
    seconds: float = 0.0
    model_seconds: float = 0.0
    """Of `seconds`, the time spent waiting for the model."""
    command_seconds: float = 0.0
    """Of `seconds`, the time spent running the command in the sandbox."""


class Condensation(BaseModel):
    """Older steps of a running rollout replaced by a structured summary of them (`agent.context: condense`).

    From step `at_step` on (until the next condensation) the model saw: the system and instance messages, then
    `message`, then the steps after `last_step` verbatim. A condensation folds in the one before it, so its summary
    covers every step up to `last_step`."""

    at_step: int
    """The first step whose request carried it."""
    first_step: int
    """The first step it folded in (the steps before were in the previous condensation, folded in too)."""
    last_step: int
    """The last step it folded in."""
    reason: Literal["threshold", "refusal"]
    """`threshold`: the next request would have passed `agent.condense.threshold` of the window; `refusal`: the
    server refused the request as longer than its window."""
    window: int
    """The model's context window it was fitted to, in tokens."""
    tokens_before: int
    """The request's tokens with the steps (by the server's tokenizer where it has one, vLLM's; else the last
    reply's usage plus an estimate of what was added since)."""
    tokens_after: int
    """The request's tokens with the condensation instead (counted the same way, or estimated)."""
    summary: str
    """The summary, in Markdown with the sections of the trajectory summaries."""
    message: str
    """The message that took the steps' place, as the model saw it."""
    usage: Usage = Field(default_factory=Usage)
    """The condensing call's (also counted in the trajectory's usage)."""
    seconds: float = 0.0
    fallback: bool = False
    """Written from the steps alone (their commands and last output) because the condensing call failed."""
    error: str = ""
    """Why the fallback was used."""


class Trajectory(BaseModel):
    """One rollout, written to disk as it grows."""

    task_id: str
    rollout_id: str
    generation: int = 0
    model: str
    config_digest: str = ""
    steps: list[Step] = []
    exit_status: ExitStatus | None = None
    """None while the rollout is still running."""
    error: str = ""
    patch: str = ""
    usage: Usage = Field(default_factory=Usage)
    started_at: datetime = Field(default_factory=now)
    seconds: float = 0.0
    refinement_context: str = ""
    """The summaries this rollout was given (PDR), rendered as sent."""
    prompt: list[dict[str, str]] = []
    """The messages the rollout opened with (system, then instance), as sent; empty in trajectories written before
    they were kept (eval/analysis/messages.py rebuilds them from the run's configuration)."""
    notes: list[str] = []
    """Settings the model backend could not honour (e.g. a thinking minimum on Anthropic), each once."""
    condensations: list[Condensation] = []
    """Each time older steps were condensed to stay within the model's context window, in order."""

    def messages(self, step: int | None = None, opening: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
        """The messages as sent in step `step`'s model call (the next call's when None): the opening messages
        (`prompt`, or `opening` when given); then, once older steps were condensed, the latest condensation's message
        and only the steps after the last one it folded in; then each earlier step's reply and what was sent back."""
        upto = len(self.steps) if step is None else step
        sent = [dict(m) for m in (self.prompt if opening is None else opening)]
        first = 0
        condensed = [c for c in self.condensations if c.at_step <= upto]
        if condensed:
            sent.append({"role": "user", "content": condensed[-1].message})
            first = condensed[-1].last_step + 1
        for s in self.steps[first:upto]:
            sent += [{"role": "assistant", "content": s.response}, {"role": "user", "content": s.observation}]
        return sent

    def save(self, path: Path) -> None:
        write_atomic(path, self.model_dump_json(indent=1))

    @classmethod
    def load(cls, path: Path) -> Trajectory:
        return cls.model_validate_json(Path(path).read_text())
