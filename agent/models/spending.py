"""A spending cap over a group of model calls: one task's rollouts, summaries and judge votes (`scaling.max_task_cost`).

Every Model of the group (built with the same `Spending`) adds its calls' usage; once the cap is reached, each refuses
any further call (base.CapReached), so the group ends with what it has: rollouts stop with exit status cost_limit,
summaries fall back to the ones built without a model, judge votes fail and a match is decided by its tie rule.
Calls in flight when the cap is reached finish, so the spend can pass the cap by their cost.
"""

from __future__ import annotations

import threading

from codescale.agent.records import Usage


class Spending:
    def __init__(self, max_cost: float, what: str = "task"):
        self.max_cost = max_cost
        """USD; 0: no cap (the usage is still summed)."""
        self.what = what
        self._spent = Usage()
        self._lock = threading.Lock()

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._spent = self._spent + usage

    @property
    def spent(self) -> Usage:
        with self._lock:
            return self._spent

    def reached(self) -> str:
        """Why no further call may start ('' while calls may)."""
        cost = self.spent.cost_usd or 0.0
        if self.max_cost and cost >= self.max_cost:
            return f"{self.what} cost cap reached: ${cost:.4f} spent of ${self.max_cost:.4f}"
        return ""
