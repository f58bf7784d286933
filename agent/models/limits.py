"""Process-wide limits shared by every Model in this process: guards that may refuse any further call (a run's
spending cap), the pace of requests and tokens per minute (rates.py), a cap on concurrent model requests, and the
listeners told the usage of every finished call (a batch run's budget and progress display).

Each `Model` is per rollout, summarizer or judge; these limits are across all of them, so that one
batch run keeps a server busy without flooding it and can account for everything it spends. They are per process:
on a Ray cluster, the rollouts' calls are made on the nodes (eval/runs/cluster.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from codescale.agent.models.rates import Pace, RateConfig
from codescale.agent.records import Usage

UsageListener = Callable[[Usage], None]


class CallLimits:
    def __init__(self) -> None:
        self._slots: threading.BoundedSemaphore | None = None
        self._listeners: list[UsageListener] = []
        self._guards: list[Callable[[], None]] = []
        self._pace: Pace | None = None
        self._lock = threading.Lock()

    def cap_requests(self, limit: int | None) -> None:
        """At most `limit` model requests in flight in this process (None or 0: no cap). Set before calls start."""
        self._slots = threading.BoundedSemaphore(limit) if limit else None

    def limit_rates(self, rates: RateConfig | None) -> None:
        """Requests and tokens per minute for every call of this process from now on (None: no limit)."""
        self._pace = Pace(rates) if rates is not None and (rates.rpm or rates.tpm) else None

    @contextmanager
    def applied(self, *, max_requests: int = 0, rates: RateConfig | None = None) -> Iterator[None]:
        """The cap on requests in flight and the rates, for the duration of a run."""
        self.cap_requests(max_requests)
        self.limit_rates(rates)
        try:
            yield
        finally:
            self.cap_requests(None)
            self.limit_rates(None)

    def guard(self, check: Callable[[], None]) -> Callable[[], None]:
        """Call `check()` before every model call (any thread): it raises to refuse the call (a run's spending cap
        reached). Returns the function that removes it."""
        return self._added(self._guards, check)

    def admit(self) -> None:
        """Run the guards: raises when a call may not start."""
        with self._lock:
            guards = list(self._guards)
        for check in guards:
            check()

    def pace(self) -> None:
        """Wait until one more request may be sent under the rates (called once per HTTP request)."""
        pace = self._pace
        if pace is not None:
            pace.wait()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Hold one request slot (waiting for one under a cap) for the duration of one HTTP request."""
        slots = self._slots
        if slots is None:
            yield
            return
        with slots:
            yield

    def listen(self, listener: UsageListener) -> Callable[[], None]:
        """Call `listener(usage)` after every successful model call (any thread); returns the function that stops it."""
        return self._added(self._listeners, listener)

    def _added(self, hooks: list, hook: Callable) -> Callable[[], None]:
        """`hook` added to `hooks`; returns the function that removes it."""
        with self._lock:
            hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in hooks:
                    hooks.remove(hook)

        return remove

    def record(self, usage: Usage) -> None:
        """A finished call's usage: counted against the tokens per minute and told to the listeners."""
        pace = self._pace
        if pace is not None:
            pace.spent(usage.tokens)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(usage)


LIMITS = CallLimits()
"""The one instance every Model uses."""
