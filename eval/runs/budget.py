"""A run-wide budget: money and tokens spent by every model call of a batch run, and whether new work may start.

The meter listens to every model call in the process (agent/models/limits.py), so rollouts, summaries and
judge votes all count, as they finish. When a limit is reached no new task or rollout starts; work in flight
finishes, so the spend ends at most about one task's worth past the limit.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from codescale.agent.models.limits import LIMITS
from codescale.agent.records import Usage
from codescale.eval.runs.rundir import append_line, read_lines


class BudgetExhausted(BaseException):
    """Raised where a rollout would start after the budget was reached.

    A BaseException, so that a strategy's handling of a failed rollout (`except Exception`) lets it through:
    the task is left unfinished (no result line), and its finished rollouts are reused when the run resumes.
    """


class BudgetConfig(BaseModel):
    """Limits over a whole run (0 = none)."""

    model_config = ConfigDict(extra="forbid")

    max_cost: float = Field(0.0, ge=0)
    """USD over every model call of the run; needs prices for the models used (configs/models.yaml)."""
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
        self._stop_listening = None

    def __enter__(self) -> Meter:
        self._stop_listening = LIMITS.listen(self.add)
        return self

    def __exit__(self, *exc) -> None:
        if self._stop_listening:
            self._stop_listening()

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
