"""A run-wide budget: money and tokens spent by every model call of a run (run, batch, swebench, fix-issue), and
whether any further call may start.

The meter listens to every model call in the process (agent/models/limits.py), so rollouts, summaries and judge
votes all count, as they finish, and it guards every call: once a limit is reached, no model request and no task
or rollout starts. Calls in flight finish, so the spend passes the limit by at most their cost; the tasks in
flight stop unfinished (no result line) and a rerun with a higher limit resumes them, reusing their finished
rollouts. (On a Ray cluster a rollout's calls are made on its node and counted when it returns.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from codescale.agent.models.catalog import model_info, user_catalog
from codescale.agent.models.limits import LIMITS
from codescale.agent.models.rates import RateConfig
from codescale.agent.records import Usage
from codescale.eval.runs.config import ConfigError, RunConfig
from codescale.eval.runs.rundir import append_line, read_lines


class BudgetExhausted(BaseException):
    """Raised where a model call, a rollout or a task would start after the budget was reached.

    A BaseException, so that the handling of a failed rollout or model call (`except Exception`, `except
    ModelError`) lets it through: the task is left unfinished (no result line), and its finished rollouts are reused
    when the run resumes.
    """


class BudgetConfig(BaseModel):
    """Limits over a whole run (0 = none)."""

    model_config = ConfigDict(extra="forbid")

    max_cost: float = Field(0.0, ge=0)
    """USD over every model call of the run; needs prices for the models used (configs/models.yaml, or yours)."""
    max_tokens: int = Field(0, ge=0)
    """Input + output tokens over every model call of the run."""


def spent(ledger: Path) -> Usage:
    """Everything a run has spent so far: the sum of its ledger (one line per model call)."""
    return sum((Usage.model_validate(line) for line in read_lines(ledger)), Usage())


class Meter:
    """Usage of every model call of a run: earlier sessions' (from the ledger) plus this one's, which it appends
    to the ledger one line per call, so that a killed run's spend still counts when it resumes."""

    def __init__(self, config: BudgetConfig, ledger: Path):
        self.config = config
        self.ledger = Path(ledger)
        self.before = spent(self.ledger)
        self.session = Usage()
        self._lock = threading.Lock()
        self._stops: list = []

    def __enter__(self) -> Meter:
        self._stops = [LIMITS.listen(self.add), LIMITS.guard(self.check)]
        return self

    def __exit__(self, *exc) -> None:
        for stop in self._stops:
            stop()

    def add(self, usage: Usage) -> None:
        with self._lock:
            self.session = self.session + usage
            append_line(self.ledger, usage.model_dump(exclude_defaults=True))

    @property
    def total(self) -> Usage:
        with self._lock:
            return self.before + self.session

    def exhausted(self) -> str:
        """Why no new work may start ('' while it may)."""
        total = self.total
        if self.config.max_cost and (total.cost_usd or 0.0) >= self.config.max_cost:
            return f"cost budget reached: ${total.cost_usd:.4f} spent of ${self.config.max_cost:.4f}"
        if self.config.max_tokens and total.tokens >= self.config.max_tokens:
            return f"token budget reached: {total.tokens} tokens spent of {self.config.max_tokens}"
        return ""

    def check(self) -> None:
        """Raise BudgetExhausted when a limit is reached."""
        reason = self.exhausted()
        if reason:
            raise BudgetExhausted(reason)


@contextmanager
def limited(budget: BudgetConfig, ledger: Path, *, rates: RateConfig | None = None,
            max_requests: int = 0) -> Iterator[Meter]:
    """A run's limits for its duration: the budget (its meter, whose ledger is `ledger`), the requests and tokens
    per minute, and the cap on requests in flight, over every model call of this process."""
    with LIMITS.applied(max_requests=max_requests, rates=rates), Meter(budget, ledger) as meter:
        yield meter


CATALOG_HINT = "~/.config/codescale/models.yaml"


def require_prices(config: RunConfig, budget: BudgetConfig) -> None:
    """A cost cap needs a price for every model the run calls (the agent's, the summarizer's, the judge's); a
    ConfigError, in one line, says how to give one."""
    flag = "--max-cost" if budget.max_cost else "--max-task-cost" if config.scaling.max_task_cost else ""
    if not flag:
        return
    for model in (config.model, config.scaling.summarizer.model, config.scaling.judge.model):
        if model is not None and not model_info(model.id).priced:
            raise ConfigError(
                f"{flag} needs a price for {model.id}, which has none: add one to {user_catalog() or CATALOG_HINT} "
                f"as `models: {{{model.id}: {{input: USD, output: USD}}}}` (USD per million tokens)")
