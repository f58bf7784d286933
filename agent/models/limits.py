"""Process-wide limits shared by every Model in this process: a cap on concurrent model requests, and the
listeners told the usage of every finished call (a batch run's budget and progress display).

Each `Model` is per rollout, summarizer or judge; these limits are across all of them, so that one
batch run keeps a server busy without flooding it and can account for everything it spends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from codescale.agent.records import Usage

UsageListener = Callable[[Usage], None]


class CallLimits:
    def __init__(self) -> None:
        self._slots: threading.BoundedSemaphore | None = None
        self._listeners: list[UsageListener] = []
        self._lock = threading.Lock()

    def cap_requests(self, limit: int | None) -> None:
        """At most `limit` model requests in flight in this process (None or 0: no cap). Set before calls start."""
        self._slots = threading.BoundedSemaphore(limit) if limit else None

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
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def record(self, usage: Usage) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(usage)


LIMITS = CallLimits()
"""The one instance every Model uses."""
