"""The batch runner: many tasks under one strategy, `workers` tasks in flight, global caps on rollouts and model
requests (and their rates, eval/runs/budget.py `limited`), a run-wide budget, every finished task appended to the run directory as it ends (docs/ARCHITECTURE.md,
"The run directory").

What a task needs first (its image) is made ready in the task's own worker through the engine's image cache
(eval/tasks/image_cache.py: pulled ahead, bounded in disk), so that a missing image fails that task only. On a Ray
cluster (eval/runs/cluster.py) the rollouts run on its nodes, which make the images ready there. Rollouts that an
earlier session finished are reused (eval.runs.solve.solve); a task stopped by the budget writes no result line and
resumes later from its finished rollouts.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from codescale.agent.models.rates import RateConfig
from codescale.agent.records import Task, Trajectory
from codescale.agent.rollout import run_rollout
from codescale.eval.runs.budget import BudgetConfig, BudgetExhausted, Meter
from codescale.eval.runs.config import RunConfig
from codescale.eval.runs.progress import Progress
from codescale.eval.runs.resume import RERUN_ON_RETRY
from codescale.eval.runs.rundir import RunDir, disk_full
from codescale.eval.runs.solve import solve, warm_ahead
from codescale.eval.tasks.dataset import Row, row_id
from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.image_cache import ImageCache, ImageCacheConfig, ImageStats
from codescale.eval.tasks.kinds import as_kind
from codescale.eval.tasks.swebench import NAMESPACE
from codescale.sandboxes.warm import WARM
from codescale.scaling.base import planned_rollouts
from codescale.scaling.records import TaskResult

class BatchConfig(BaseModel):
    """How a batch run schedules and limits its work; may change between sessions of one run."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(1, ge=1)
    """Tasks in flight at once."""
    max_rollouts: int = Field(0, ge=0)
    """Rollouts in flight over all tasks; 0 = workers x scaling.concurrency (no further cap)."""
    max_requests: int = Field(0, ge=0)
    """Model requests in flight over the whole process; 0 = no cap."""
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    rates: RateConfig = Field(default_factory=RateConfig)
    """Model requests and tokens per minute over the whole process (agent/models/rates.py)."""
    retry_errors: bool = False
    """Run again every task recorded as failed and every task with a rollout that ended in a model or sandbox error
    (only those rollouts run again), however often they ran."""
    keep_errors: bool = False
    """Count failed tasks as finished: a rerun does not retry them (by default it does, up to
    eval.runs.resume.ERROR_ATTEMPTS sessions)."""
    image_namespace: str = NAMESPACE
    """Registry namespace of SWE-bench instance images."""
    pull_attempts: int = Field(3, ge=1)
    """Tries to pull a missing image, the first included."""
    pull_wait: float = 2.0
    """Seconds before the second try; doubles after each."""
    image_cache_gb: float = Field(0.0, ge=0)
    """Most gigabytes of task images kept per Docker engine beside those in use (least recently used go first); 0 = no bound."""
    pull_ahead: int = Field(2, ge=0)
    """Images of the next tasks made present while the current ones run (local runs)."""
    remove_images: bool = False
    """Remove a task's image once the task is finished."""

    def images(self) -> ImageCacheConfig:
        return ImageCacheConfig(cache_gb=self.image_cache_gb, pull_ahead=self.pull_ahead,
                                remove_finished=self.remove_images, attempts=self.pull_attempts, wait=self.pull_wait)


class BatchOutcome(BaseModel):
    """What became of the batch's tasks; counted from the task threads."""

    done: int = 0
    failed: int = 0
    stopped: int = 0
    """Tasks the budget stopped mid-way (unfinished; resumable)."""
    not_started: int = 0
    stop_reason: str = ""
    capped: int = 0
    """Finished tasks that their own cost cap (`scaling.max_task_cost`) stopped early."""
    tally: str = ""
    """The whole run's tasks by outcome (eval/runs/outcomes.py), earlier sessions' included."""
    failed_in_run: int = 0
    """Of the whole run's tasks, how many are failed (the command exits non-zero when any is)."""
    disk_full: str = ""
    """The full disk that stopped the batch (no task is started after it; a resume runs the rest)."""
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def finished(self, result: TaskResult) -> None:
        with self._lock:
            self.failed += result.status == "error"
            self.done += result.status != "error"
            self.capped += bool(result.cap)

    def stopped_by(self, cause: Literal["budget", "disk"], reason: str, *, started: bool) -> None:
        """A task stopped mid-way (`started`) or never started, by the budget or a full disk; the first reason of
        each cause is kept."""
        with self._lock:
            if started:
                self.stopped += 1
            else:
                self.not_started += 1
            if cause == "disk":
                self.disk_full = self.disk_full or reason
            else:
                self.stop_reason = self.stop_reason or reason


class RolloutGate:
    """eval.runs.solve.RolloutWatch for a batch: the budget is checked and a global rollout slot held around each rollout."""

    def __init__(self, meter: Meter, slots: int, progress: Progress):
        self.meter, self.progress = meter, progress
        self.slots = threading.BoundedSemaphore(slots)

    @contextmanager
    def running(self, task_id: str, rollout_id: str) -> Iterator[None]:
        self.meter.check()
        with self.slots:
            self.meter.check()  # the wait for a slot may have been long
            self.progress.rollout_started(task_id, rollout_id)
            try:
                yield
            finally:
                self.progress.rollout_finished(task_id, rollout_id)

    def reused(self, traj: Trajectory) -> None:
        self.progress.rollout_reused(traj.task_id, traj.rollout_id)


def error_result(instance_id: str, config: RunConfig, error: str) -> TaskResult:
    return TaskResult(instance_id=instance_id, strategy=config.scaling.strategy, status="error", error=error)


def run_batch(
    rows: list[Row], config: RunConfig, run_dir: RunDir, run_id: str, batch: BatchConfig, meter: Meter,
    progress: Progress, cluster=None, retried: Collection[str] = (),
) -> BatchOutcome:
    """Run every row (a Task, or the TaskError of a bad row) and record each finished one in `run_dir`.

    With `cluster` (eval.runs.cluster.Cluster) the rollouts run on its nodes, which make their images present;
    otherwise here, with this engine's image cache. A task in `retried` (recorded as failed by an earlier session)
    runs its rollouts that ended in model or sandbox errors again; every other finished rollout is reused (with
    `retry_errors`, no such rollout is)."""
    slots = batch.max_rollouts or batch.workers * config.scaling.concurrency
    gate = RolloutGate(meter, slots, progress)
    needs_image = config.sandbox.get("kind", "docker") == "docker" and cluster is None
    stats = cluster.stats if cluster is not None else ImageStats()
    progress.images = stats
    cache = ImageCache(batch.images(), stats=stats) if needs_image and any(isinstance(r, Task) for r in rows) else None
    runner = cluster.run_rollout if cluster is not None else run_rollout
    tasks = [r for r in rows if isinstance(r, Task)]
    position = {id(task): i for i, task in enumerate(tasks)}
    image_keepers = [keeper for keeper in (cluster, cache) if keeper is not None]
    outcome = BatchOutcome()
    started: set[int] = set()
    ahead: list = []
    lock = threading.Lock()

    def warm_first(task: Task) -> None:
        """The first rollouts of a task not started yet: their sandboxes start ahead (its image is present)."""
        with lock:
            if position[id(task)] in started:
                return
        kind = as_kind(task)
        settings = kind.overlay(config)
        first = min(settings.scaling.concurrency, planned_rollouts(settings.scaling))
        spec = warm_ahead(kind, settings, run_id, first, at_least=True)
        with lock:
            ahead.append(spec)

    def finished(result: TaskResult) -> None:
        progress.task_finished(result)
        outcome.finished(result)

    def record(result: TaskResult) -> None:
        run_dir.append_result(result, model_name=config.model.id)
        finished(result)

    def run_one(row: Row) -> None:
        for keeper in image_keepers if isinstance(row, Task) else ():
            keeper.prefetch(tasks[position[id(row)] + 1:])
        instance_id = row_id(row)
        if isinstance(row, TaskError):
            record(error_result(instance_id, config, str(row)))
            return
        with lock:
            started.add(position[id(row)])
        following = tasks[position[id(row)] + 1:position[id(row)] + 2]
        prepare_next = partial(cache.when_present, following[0], warm_first) if cache is not None and following else None
        cause, reason = ("disk", outcome.disk_full) if outcome.disk_full else ("budget", meter.exhausted())
        if reason:
            progress.task_not_started(instance_id, reason)
            outcome.stopped_by(cause, reason, started=False)
            return
        progress.task_started(instance_id)
        try:
            with held(cache, row):
                rerun = RERUN_ON_RETRY if batch.retry_errors or instance_id in retried else ()
                result = solve(row, config, run_dir, run_id, watch=gate, rerun=rerun, runner=runner,
                               prepare_next=prepare_next)
            for keeper in image_keepers:
                keeper.finished(row.image)
            finished(result)  # solve recorded it
        except BudgetExhausted as e:
            progress.task_stopped(instance_id, str(e))
            outcome.stopped_by("budget", str(e), started=True)
        except TaskError as e:
            record(error_result(instance_id, config, str(e)))
        except Exception as e:
            if disk_full(e):  # nothing of the task recorded: a resume runs it once there is space
                progress.task_stopped(instance_id, str(e))
                outcome.stopped_by("disk", f"no space left on the run directory's disk ({e})", started=True)
                return
            # e.g. the engine failed while preparing the task: this task fails, the run goes on
            record(error_result(instance_id, config, f"{type(e).__name__}: {e}"))

    try:
        with ThreadPoolExecutor(max_workers=batch.workers, thread_name_prefix="task") as pool:
            for future in [pool.submit(run_one, row) for row in rows]:
                future.result()
    finally:
        if cache is not None:
            cache.close()
        for spec in ahead:
            if spec is not None:
                WARM.forget(spec)
    return outcome


@contextmanager
def held(cache: ImageCache | None, task: Task) -> Iterator[None]:
    """The task's image made present and kept from eviction while its rollouts run (no cache: nothing to do)."""
    if cache is None:
        yield
        return
    cache.acquire(task)
    try:
        yield
    finally:
        cache.release(task.image)
