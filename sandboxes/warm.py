"""Sandboxes started ahead of the rollouts that will take them, bounded by `sandbox.warm_limit`.

The run engine says how many more sandboxes of one kind (a `key`: equal keys make interchangeable sandboxes) its
rollouts will ask for (`expect`): a strategy's next rollouts (PDR's refined generation while generation 0 runs),
a batch's next task once its image is present. Up to `limit` of them start in the background and wait, idle, for a
rollout to `take` one (its start may still be under way). One starts only while the containers no rollout holds,
those waiting here and those being removed in the background, are fewer than the limit: with one container per
rollout slot, starting ahead never makes more than the slots plus the limit live. `forget` closes what a key no
longer needs; Ctrl-C removes the rest by the run's label like any sandbox of the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from codescale.sandboxes.lifecycle import REMOVALS


class WarmSandboxes:
    """The sandboxes started ahead in this process, per key, in the order their keys were first expected."""

    def __init__(self) -> None:
        self.limit = 0
        self._wanted: dict[Hashable, int] = {}
        """Sandboxes still to be asked for, per key."""
        self._make: dict[Hashable, Callable[[], Any]] = {}
        self._idle: dict[Hashable, list[Any]] = {}
        self._guessed: set[Hashable] = set()
        """Keys expected only by a guess (`at_least`): served after the others."""
        self._lock = threading.Lock()
        REMOVALS.listen(self._refill)  # a removal that ends leaves room under the limit

    def expect(self, key: Hashable, make: Callable[[], Any], count: int, limit: int, *, at_least: bool = False) -> None:
        """`count` more sandboxes `make()` makes will be asked for under `key` (`at_least`: at least that many, a
        guess that does not lower an earlier count and is served after the keys expected for sure); keep up to
        `limit` sandboxes (over all keys) started ahead."""
        with self._lock:
            self.limit = limit
            self._make[key] = make
            if at_least:
                if key not in self._wanted:
                    self._guessed.add(key)
                self._wanted[key] = max(count, self._wanted.get(key, 0))
            else:
                self._guessed.discard(key)
                self._wanted[key] = count
            self._fill()

    def take(self, key: Hashable) -> Any | None:
        """A sandbox started ahead for `key`, or None; either way one fewer is expected."""
        with self._lock:
            if self._wanted.get(key):
                self._wanted[key] -= 1
            idle = self._idle.get(key)
            sandbox = idle.pop(0) if idle else None
            self._fill()
        return sandbox

    def skip(self, key: Hashable) -> None:
        """One fewer is expected for `key` (e.g. a rollout an earlier session finished); a sandbox started ahead
        for it beyond the new count is closed."""
        with self._lock:
            if self._wanted.get(key):
                self._wanted[key] -= 1
            idle = self._idle.get(key, [])
            extra = idle[self._wanted.get(key, 0):]
            del idle[len(idle) - len(extra):]
        for sandbox in extra:
            sandbox.close()

    def forget(self, key: Hashable) -> None:
        """No more sandboxes are asked for under `key`: those started ahead for it are closed."""
        with self._lock:
            self._wanted.pop(key, None)
            self._make.pop(key, None)
            self._guessed.discard(key)
            idle = self._idle.pop(key, [])
            self._fill()
        for sandbox in idle:
            sandbox.close()

    def clear(self) -> None:
        """Forget every key."""
        for key in list(self._wanted):
            self.forget(key)

    def idle(self) -> int:
        with self._lock:
            return sum(len(sandboxes) for sandboxes in self._idle.values())

    def _refill(self) -> None:
        with self._lock:
            self._fill()

    def _fill(self) -> None:
        """Under the lock: start sandboxes for the keys in order (guesses last), while the room allows and a key
        wants more."""
        spare = self.limit - sum(len(sandboxes) for sandboxes in self._idle.values()) - REMOVALS.pending()
        for key, wanted in sorted(self._wanted.items(), key=lambda item: item[0] in self._guessed):
            idle = self._idle.setdefault(key, [])
            while spare > 0 and len(idle) < wanted:
                idle.append(self._make[key]().start())
                spare -= 1


WARM = WarmSandboxes()
"""The one set of sandboxes started ahead in this process."""
