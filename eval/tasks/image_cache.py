"""Task images at SWE-bench scale: made present on demand (built for bundled tasks, pulled otherwise, retried),
pulled ahead for the next tasks, bounded in disk by evicting the least recently used, removed when a task is done.

One cache per Docker engine: the batch driver's for a local run, one per node on a Ray cluster
(eval/runs/cluster.py). It manages only the images of the tasks it was asked for. Sizes are those `docker images`
shows, shared layers counted in each image, so the bound is conservative. An image a running rollout holds is
never evicted: the images present stay within the bound plus the ones in use. Among the others, an image pulled
ahead and not yet used goes last: evicting it would only mean pulling it again a moment later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ConfigDict, Field

from codescale.agent.records import Task
from codescale.eval.tasks import images, kinds
from codescale.eval.tasks.errors import TaskError

log = logging.getLogger(__name__)
GB = 1e9


class ImageCacheConfig(BaseModel):
    """How task images are made present and kept."""

    model_config = ConfigDict(extra="forbid")

    cache_gb: float = Field(0.0, ge=0)
    """Most gigabytes of task images kept on one engine, beside those in use; 0 = no bound."""
    pull_ahead: int = Field(0, ge=0)
    """Images of the next tasks made present while the current ones run (within the bound)."""
    remove_finished: bool = False
    """Remove a task's image as soon as its task is finished (and no rollout uses it)."""
    attempts: int = Field(3, ge=1)
    """Tries to pull a missing image, the first included."""
    wait: float = 2.0
    """Seconds before the second try; doubles after each."""


class ImageStats:
    """Counts of image work, shown in the progress display; safe to update from any thread."""

    def __init__(self) -> None:
        self.pulled = self.retries = self.failed = self.evicted = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, pulled: int = 0, seconds: float = 0.0, retries: int = 0, failed: int = 0, evicted: int = 0) -> None:
        with self._lock:
            self.pulled += pulled
            self.seconds += seconds
            self.retries += retries
            self.failed += failed
            self.evicted += evicted

    def line(self) -> str:
        with self._lock:
            return (f"images {self.pulled} pulled ({self.seconds:.1f} s), {self.retries} retries, "
                    f"{self.failed} failed, {self.evicted} evicted")


def ensure(task: Task, client, attempts: int, wait: float, sleep: Callable[[float], None] = time.sleep) -> tuple[bool, int]:
    """Make the task's image present; returns (whether it was pulled or built now, retries made).

    A failed pull is tried `attempts` times in all (waiting `wait`, then twice as long, ...); TaskError at the end."""
    if task.image and images.image_exists(client, task.image):
        return False, 0
    attempt = 1
    while True:
        try:
            kinds.ensure_image(task, client)
            return True, attempt - 1
        except TaskError as e:
            if attempt >= attempts or "could not be pulled" not in e.problem:
                raise
            log.warning("%s (attempt %d of %d); retrying in %.0f s", e, attempt, attempts, wait)
            sleep(wait)
            wait *= 2
            attempt += 1


class ImageCache:
    """The task images of one Docker engine: `acquire` before a task's rollouts, `release` after, `finished` when
    the task is done, `prefetch` for tasks coming next."""

    def __init__(self, config: ImageCacheConfig, client=None, stats: ImageStats | None = None):
        import docker

        self.config = config
        self.client = client or docker.from_env()
        self.stats = stats or ImageStats()
        self.sizes: dict[str, int] = {}
        """Managed images present -> bytes."""
        self.seen: dict[str, int] = {}
        """Every image made present so far -> bytes (kept after eviction, to estimate a pull before it)."""
        self.used_at: dict[str, float] = {}
        self.in_use: Counter[str] = Counter()
        self.ahead: set[str] = set()
        """Images pulled ahead (or being pulled) whose task has not acquired them yet."""
        self.evicting: dict[str, int] = {}
        """Images chosen for eviction and not yet removed -> bytes: no image is pulled ahead in their place."""
        self._lock = threading.RLock()
        self._making: dict[str, threading.Lock] = {}
        self._ahead = ThreadPoolExecutor(1, thread_name_prefix="pull-ahead") if config.pull_ahead else None

    @property
    def bound(self) -> float:
        return self.config.cache_gb * GB if self.config.cache_gb else float("inf")

    def acquire(self, task: Task) -> dict:
        """Make the task's image present and hold it (never evicted until released); returns what was done."""
        with self._lock:
            self.in_use[task.image] += 1
            self.used_at[task.image] = time.monotonic()
            self.ahead.discard(task.image)
        try:
            return self._present(task)
        except BaseException:
            self.release(task.image)
            raise

    def release(self, image: str) -> None:
        with self._lock:
            self.in_use[image] -= 1
            if self.in_use[image] <= 0:
                del self.in_use[image]
            chosen = self._over_bound()  # a finished task's image goes before one pulled ahead for the next task
        self._evict(chosen)

    def finished(self, image: str) -> None:
        """The task of `image` is done: with `remove_finished`, remove the image unless a rollout still uses it."""
        with self._lock:
            chosen = [image] if self.config.remove_finished and image in self.sizes and not self.in_use[image] else []
            self._to_evict(chosen)
        self._evict(chosen)

    def prefetch(self, tasks: list[Task]) -> None:
        """In the background, make present the images of the first `pull_ahead` of `tasks` that fit in the bound."""
        if self._ahead is None:
            return
        for task in tasks[: self.config.pull_ahead]:
            self._ahead.submit(self.prefetch_one, task)

    def when_present(self, task: Task, then: Callable[[Task], None]) -> None:
        """Call `then(task)` once the task's image is present: after the pulls ahead queued so far (at once when none
        are made); never when it is not."""
        def check() -> None:
            try:
                if images.image_exists(self.client, task.image):
                    then(task)
            except Exception as e:  # what it prepares is an optimisation: the task runs without it
                log.warning("preparing %s ahead failed: %s", task.instance_id, e)

        if self._ahead is None:
            check()
        else:
            self._ahead.submit(check)

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.shutdown(wait=True, cancel_futures=True)

    def present_bytes(self, include_in_use: bool = True) -> int:
        with self._lock:
            return sum(size for image, size in self.sizes.items() if include_in_use or not self.in_use[image])

    def prefetch_one(self, task: Task) -> dict | None:
        """Make the task's image present now if it fits in the bound; returns what was done (None: nothing)."""
        with self._lock:
            if task.image in self.sizes or task.image in self.in_use:
                return None
            leaving = sum(self.evicting.values())
            if self.present_bytes(include_in_use=False) + leaving + self._estimate(task.image) > self.bound:
                return None  # no room without evicting what is about to be used (or before the evicted are gone)
            self.ahead.add(task.image)
        try:
            return self._present(task)
        except Exception as e:  # its task will try again, and fail alone if it must
            self.ahead.discard(task.image)
            log.warning("pull ahead of %s failed: %s", task.image, e)
            return None

    def _present(self, task: Task) -> dict:
        """Ensure the image, once at a time per image (never while it is being removed); count it."""
        with self._making_lock(task.image):
            start = time.monotonic()
            try:
                pulled, retries = ensure(task, self.client, self.config.attempts, self.config.wait)
            except TaskError:
                self.stats.add(failed=1, seconds=time.monotonic() - start)
                raise
            seconds = time.monotonic() - start
            self.stats.add(pulled=int(pulled), seconds=seconds if pulled else 0.0, retries=retries)
            size = int(self.client.images.get(task.image).attrs.get("Size") or 0)
        with self._lock:
            self.sizes[task.image] = self.seen[task.image] = size
            self.used_at[task.image] = time.monotonic()
            chosen = self._over_bound()
        self._evict(chosen)
        return {"pulled": pulled, "seconds": seconds if pulled else 0.0, "retries": retries}

    def _estimate(self, image: str) -> int:
        """Bytes making `image` present would add: 0 when it is, its size when seen before, else the largest seen."""
        if image in self.sizes:
            return 0
        return self.seen.get(image) or max(self.seen.values(), default=0)

    def _making_lock(self, image: str) -> threading.Lock:
        with self._lock:
            return self._making.setdefault(image, threading.Lock())

    def _over_bound(self) -> list[str]:
        """Under the lock: the images to evict, not in use, least recently used first and those pulled ahead last,
        until the others fit in the bound; they are no longer counted as present."""
        chosen = []
        while self.present_bytes(include_in_use=False) > self.bound:
            idle = [image for image in self.sizes if not self.in_use[image]]
            if not idle:
                break
            chosen.append(min(idle, key=lambda image: (image in self.ahead, self.used_at.get(image, 0.0))))
            self._to_evict(chosen[-1:])
        return chosen

    def _to_evict(self, images: list[str]) -> None:
        """Under the lock: these images are to be removed. They no longer count as present for the bound, but
        still do against a pull ahead until they are gone."""
        for image in images:
            self.evicting[image] = self.sizes.get(image, 0)
            self._forget_present(image)

    def _forget_present(self, image: str) -> None:
        self.sizes.pop(image, None)
        self.used_at.pop(image, None)
        self.ahead.discard(image)

    def _evict(self, images: list[str]) -> None:
        """Remove the images chosen under the lock, outside it, so that other tasks go on meanwhile. An image a
        task has taken up since it was chosen is kept; a task that takes it up during its removal waits for the
        removal (the image's making lock) and makes it present again."""
        for image in images:
            with self._making_lock(image):
                try:
                    self._remove(image)
                finally:
                    with self._lock:
                        self.evicting.pop(image, None)

    def _remove(self, image: str) -> None:
        """Remove `image` unless a task has taken it up again; the caller holds its making lock."""
        import docker

        from codescale.sandboxes.lifecycle import settle

        with self._lock:
            if self.in_use[image]:
                return
        settle(timeout=60)  # finished rollouts' containers are removed in the background: none holds it then
        try:
            self.client.images.remove(image, force=False, noprune=False)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as e:  # e.g. another run's container uses it: keep it, stop managing it
            log.warning("could not remove image %s: %s", image, e)
        with self._lock:  # made present again meanwhile by a task that is done with it already: gone now all the same
            self._forget_present(image)
        self.stats.add(evicted=1)
