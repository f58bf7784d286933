"""Progress of a batch run: a live rich display on a terminal, one plain line per event otherwise (CI logs).

Both count the same things (tasks done / running / failed / not started, rollouts in flight, tokens, cost,
elapsed, ETA); they differ only in how they show them.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from codescale.agent.records import Usage
from codescale.scaling.records import TaskResult
from codescale.eval.runs.terminal import plain


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def money(usage: Usage) -> str:
    return f"${usage.cost_usd:.4f}" if usage.cost_usd is not None else "$? (no price)"


def token_counts(usage: Usage) -> str:
    """`N in (M cached) / K out tokens`: the input read from a prompt cache is billed at the cached rate."""
    return f"{usage.input_tokens} in ({usage.cached_input_tokens} cached) / {usage.output_tokens} out tokens"


class Progress:
    """Counts of a batch run; `usage` is read from the run's meter. Subclasses decide how to show them."""

    def __init__(self, total: int, earlier: int = 0, usage=lambda: Usage()):
        self.total = total
        """Tasks selected for this run, including those finished by earlier sessions."""
        self.earlier = earlier
        """Of those, finished by earlier sessions (skipped now)."""
        self.usage = usage
        self.done = self.failed = self.not_started = self.stopped = 0
        self.running: set[str] = set()
        self.rollouts_running = self.rollouts_done = self.rollouts_reused = 0
        self.stop_reason = ""
        self.images = None
        """The run's eval.tasks.image_cache.ImageStats (pulls counted, timed, retried), once the batch sets it."""
        self.start = time.monotonic()
        self._lock = threading.Lock()

    # --- events (any thread) -----------------------------------------------------------------

    def task_started(self, instance_id: str) -> None:
        with self._lock:
            self.running.add(instance_id)
        self.event(f"start {instance_id}")

    def task_finished(self, result: TaskResult) -> None:
        with self._lock:
            self.running.discard(result.instance_id)
            if result.status == "error":
                self.failed += 1
            else:
                self.done += 1
        if result.status == "error":
            self.event(f"FAILED {result.instance_id}: {result.error}")
        else:
            status = result.exit_statuses.get(result.final_rollout or "", "no answer")
            lines = len(result.final_patch.splitlines())
            self.event(f"done {result.instance_id}: {status}, patch {lines} lines, {result.seconds:.1f} s")

    def task_stopped(self, instance_id: str, reason: str) -> None:
        """The budget stopped a task before all its rollouts ran; it stays unfinished (resumable)."""
        with self._lock:
            self.running.discard(instance_id)
            self.stopped += 1
        self.event(f"stopped {instance_id}: {reason} (its finished rollouts are kept for a resume)")

    def task_not_started(self, instance_id: str, reason: str) -> None:
        with self._lock:
            self.not_started += 1
            first = not self.stop_reason
            self.stop_reason = self.stop_reason or reason
        if first:
            self.event(f"{reason}: no new task or rollout starts; work in flight finishes")

    def rollout_started(self, instance_id: str, rollout_id: str) -> None:
        with self._lock:
            self.rollouts_running += 1

    def rollout_finished(self, instance_id: str, rollout_id: str) -> None:
        with self._lock:
            self.rollouts_running -= 1
            self.rollouts_done += 1

    def rollout_reused(self, instance_id: str, rollout_id: str) -> None:
        with self._lock:
            self.rollouts_reused += 1

    # --- what is shown -------------------------------------------------------------------------

    def eta(self) -> str:
        finished = self.done + self.failed
        left = self.total - self.earlier - finished - self.not_started - self.stopped
        if not finished or self.stop_reason:
            return "-"
        return clock((time.monotonic() - self.start) / finished * max(0, left))

    def status(self) -> str:
        usage = self.usage()
        with self._lock:
            finished = self.earlier + self.done + self.failed
            return (
                f"{finished}/{self.total} tasks ({self.failed} failed, {len(self.running)} running) | "
                f"rollouts {self.rollouts_running} running, {self.rollouts_done} done, {self.rollouts_reused} reused | "
                + (f"{self.images.line()} | " if self.images else "") + f"{usage.tokens} tokens, {money(usage)} | {clock(time.monotonic() - self.start)} elapsed, ETA {self.eta()}"
            )

    def event(self, message: str) -> None:
        raise NotImplementedError

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        pass


class LineProgress(Progress):
    """One line per event, each with the run's counts: for logs and CI."""

    def __init__(self, *args, stream: TextIO | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stream = stream or sys.stderr

    def event(self, message: str) -> None:
        line = f"[{clock(time.monotonic() - self.start)}] {plain(message)} | {self.status()}"
        with self._lock:
            print(line, file=self.stream, flush=True)


class LiveProgress(Progress):
    """A live panel of the counts, refreshed a few times a second; finished tasks scroll above it."""

    def __init__(self, *args, console=None, **kwargs):
        from rich.console import Console

        super().__init__(*args, **kwargs)
        self.console = console or Console(stderr=True)
        self._live = None

    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self._live = Live(get_renderable=self.panel, console=self.console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self._live.__exit__(*exc)
            if not self.console.is_terminal:  # (forced with --live) a terminal gets its newline from Live
                self.console.line()

    def panel(self):
        from rich.table import Table

        usage = self.usage()
        table = Table.grid(padding=(0, 2))
        table.add_row("tasks", f"{self.earlier + self.done + self.failed}/{self.total} finished "
                      f"({self.done} done now, {self.earlier} earlier), {self.failed} failed, {len(self.running)} running")
        table.add_row("rollouts", f"{self.rollouts_running} in flight, {self.rollouts_done} done, {self.rollouts_reused} reused")
        if self.images:
            table.add_row("images", self.images.line().removeprefix("images "))
        table.add_row("usage", f"{usage.tokens} tokens ({token_counts(usage)}), {money(usage)}")
        table.add_row("time", f"{clock(time.monotonic() - self.start)} elapsed, ETA {self.eta()}")
        if self.stop_reason:
            table.add_row("budget", f"[bold yellow]{self.stop_reason}[/]: no new work starts")
        return table

    def event(self, message: str) -> None:
        if message.startswith(("done", "FAILED", "stopped")) or "budget" in message:
            self.console.print(f"[{clock(time.monotonic() - self.start)}] {plain(message)}", highlight=False, markup=False)


def make_progress(total: int, earlier: int, usage, live: bool | None = None) -> Progress:
    """The live display on a terminal (stderr), plain lines otherwise."""
    if live is None:
        live = sys.stderr.isatty()
    return (LiveProgress if live else LineProgress)(total, earlier, usage=usage)
