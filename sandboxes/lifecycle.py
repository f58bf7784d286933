"""Sandbox starts and removals in the background, bounded, and `settle()`: the wait that keeps the promise that
no sandbox is left when the process exits.

A rollout starts its sandbox while its first model call runs and hands the removal to a background worker when
it ends, so that neither sits on its critical path. Every job goes through one of two bounded pools.
`settle()` waits for them all; a normal interpreter exit does too (concurrent.futures joins its workers
before the interpreter exits, documented behaviour); Ctrl-C calls `shutdown()`, which also refuses new starts,
before the run's containers are removed by label (eval.runs.interrupt).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any


class ShuttingDown(Exception):
    """A start refused because the process is shutting down."""


class Stopped(BaseException):
    """A sandbox lost because the process is shutting down (its run was interrupted): what uses it records nothing
    more. A BaseException, so that no handler of failed work (`except Exception`) records it as a failure."""


class Jobs:
    """A bounded pool of background jobs: `workers` run at once, at most `backlog` wait (submit blocks beyond)."""

    def __init__(self, name: str, workers: int, backlog: int):
        self.name, self.workers = name, workers
        self._slots = threading.BoundedSemaphore(workers + backlog)
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._listeners: list[Callable[[], None]] = []

    def submit(self, job: Callable[..., Any], *args: Any) -> Future:
        self._slots.acquire()
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
            future = self._pool.submit(job, *args)
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
        self._slots.release()
        for listener in self._listeners:
            listener()

    def pending(self) -> int:
        """Jobs submitted and not finished."""
        with self._lock:
            return len(self._pending)

    def listen(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every job from now on (in the thread that ran it)."""
        self._listeners.append(listener)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for every job submitted so far; how many are still running after `timeout`."""
        with self._lock:
            pending = list(self._pending)
        return len(wait(pending, timeout).not_done)


STARTS = Jobs("sandbox-start", workers=32, backlog=1024)
"""Container starts. Wide: a start mostly waits for the engine, and a rollout waits for its own."""
REMOVALS = Jobs("sandbox-removal", workers=4, backlog=256)
"""Container removals. Narrow: they are off every rollout's path, so they yield the engine to starts and
commands; a full backlog makes `close()` wait, so they never pile up without bound."""

_closing = threading.Event()


def check_open() -> None:
    """Raise ShuttingDown once `shutdown()` has begun (called by a start before it makes anything)."""
    if _closing.is_set():
        raise ShuttingDown("the process is shutting down; no new sandbox is started")


def shutting_down() -> bool:
    """Whether `shutdown()` has begun: a sandbox failing now was most likely removed by it."""
    return _closing.is_set()


def settle(timeout: float | None = None) -> int:
    """Wait for the starts and removals in flight (a start may queue a removal); how many did not finish."""
    left = STARTS.wait(timeout)
    return left + REMOVALS.wait(timeout)


def shutdown(timeout: float = 30.0) -> int:
    """Refuse new starts, then `settle(timeout)`. What did not finish is found by its run label
    (sandboxes.docker.remove_containers)."""
    _closing.set()
    return settle(timeout)
