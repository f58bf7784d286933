"""Requests and tokens per minute: the pace of one process's model requests, shared by every thread (limits.py).

Requests per minute are spaced evenly: a request starts at least 60/rpm seconds after the one before it, so that
no burst ever passes the rate. Tokens per minute are counted when a call finishes (input and output): a request waits
while the calls that finished in the last 60 seconds used the limit, so requests in flight can pass it by their
own tokens (bound them with a cap on requests in flight).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from pydantic import BaseModel, ConfigDict, Field

WINDOW = 60.0
"""Seconds over which tokens per minute are counted."""


class RateConfig(BaseModel):
    """How fast this process may call models (0: no limit)."""

    model_config = ConfigDict(extra="forbid")

    rpm: int = Field(0, ge=0)
    """Model requests per minute, spaced evenly (every HTTP request counts: retries, each vote, each continuation)."""
    tpm: int = Field(0, ge=0)
    """Model tokens (input + output) per minute, counted as calls finish."""


class Pace:
    """The pace of requests under a RateConfig: `wait()` before each request, `spent(tokens)` after each call."""

    def __init__(self, config: RateConfig, clock=time.monotonic, sleep=time.sleep):
        self.config = config
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        """When the next request may start (rpm)."""
        self._tokens: deque[tuple[float, int]] = deque()
        """(finished at, tokens) of the calls within the last WINDOW seconds (tpm)."""
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until a request may start under both limits; the seconds waited."""
        waited = 0.0
        while self.config.tpm and (pause := self._token_pause()) > 0:
            self._sleep(pause)
            waited += pause
        if self.config.rpm:
            with self._lock:
                now = self._clock()
                start = max(now, self._next)
                self._next = start + WINDOW / self.config.rpm  # this request holds its slot
            if start > now:
                self._sleep(start - now)
                waited += start - now
        return waited

    def spent(self, tokens: int) -> None:
        if self.config.tpm and tokens:
            with self._lock:
                self._tokens.append((self._clock(), tokens))

    def _token_pause(self) -> float:
        """Seconds until the tokens of the last WINDOW seconds fall below the limit (0: now)."""
        with self._lock:
            now = self._clock()
            while self._tokens and self._tokens[0][0] <= now - WINDOW:
                self._tokens.popleft()
            used = sum(tokens for _, tokens in self._tokens)
            if used < self.config.tpm:
                return 0.0
            for finished, tokens in self._tokens:  # the oldest calls leave the window first
                used -= tokens
                if used < self.config.tpm:
                    return max(0.01, finished + WINDOW - now)
            return 0.01
