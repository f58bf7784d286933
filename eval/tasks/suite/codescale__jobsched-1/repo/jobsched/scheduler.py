"""The scheduler: runs due jobs, reschedules them, retries failures."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging

from jobsched.clock import SystemClock
from jobsched.jobs import Job

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, clock=None):
        self.clock = clock or SystemClock()
        self._queue: list[tuple[dt.datetime, int, Job, int]] = []  # (due, tiebreak, job, attempt)
        self._order = itertools.count()
        self.history: list[tuple[str, dt.datetime, str]] = []  # (job name, time, "ok" | "failed" | "gave up")

    def add(self, job: Job, at: dt.datetime | None = None) -> None:
        self._push(at or self.clock.now(), job, 1)

    def _push(self, due: dt.datetime, job: Job, attempt: int) -> None:
        heapq.heappush(self._queue, (due, next(self._order), job, attempt))

    def upcoming(self) -> list[tuple[dt.datetime, str]]:
        return [(due, job.name) for due, _, job, _ in sorted(self._queue)]

    def run_pending(self) -> int:
        """Run every job that is due now; returns how many ran."""
        ran = 0
        now = self.clock.now()
        while self._queue and self._queue[0][0] <= now:
            _, _, job, attempt = heapq.heappop(self._queue)
            ran += 1
            try:
                job.action()
            except Exception as e:
                if attempt >= job.max_attempts:
                    self.history.append((job.name, now, "gave up"))
                    log.error("job %s failed %d times, giving up: %s", job.name, attempt, e)
                    continue
                retry_at = now + job.retry_delta
                self.history.append((job.name, now, "failed"))
                log.warning("job %s failed (attempt %d), retrying at %s", job.name, attempt, retry_at)
                self._push(retry_at, job, attempt + 1)
                continue
            self.history.append((job.name, now, "ok"))
            if job.interval_delta is not None:
                self._push(now + job.interval_delta, job, 1)
        return ran
