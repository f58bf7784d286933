"""Jobs: a callable, how often it runs, and how failures are retried."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from jobsched.durations import parse_duration


@dataclass
class Job:
    name: str
    action: Callable[[], object]
    interval: str | None = None
    """Run again this long after each successful run; None runs once."""
    retry_delay: str = "30s"
    max_attempts: int = 3
    interval_delta: dt.timedelta | None = field(init=False, default=None)
    retry_delta: dt.timedelta = field(init=False)

    def __post_init__(self):
        self.interval_delta = parse_duration(self.interval) if self.interval else None
        self.retry_delta = parse_duration(self.retry_delay)
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
