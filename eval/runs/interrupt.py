"""Ctrl-C and SIGTERM during a run: run the caller's cleanups, remove the run's containers by label, exit 130.

A KeyboardInterrupt would not do: the strategies' thread pools wait for the rollouts in flight on the way out.
Every file a run writes is written atomically, so leaving at once loses nothing already recorded. Container
starts and removals run in the background (sandboxes.lifecycle): new starts are refused, those in flight
are waited for (bounded), and whatever is left is found by the run's label."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from codescale.eval.runs.logs import SHOWN


class Interrupt:
    """What a run does when it is interrupted or aborted: its cleanups (more can be `add`ed as the run goes on, e.g.
    a cluster it joined), then its sandboxes removed. Calling it aborts the run (see `exit_on_interrupt`)."""

    def __init__(self, run_id: str, cleanups: tuple[Callable[[], object], ...]):
        self.run_id, self.cleanups = run_id, list(cleanups)

    def add(self, cleanup: Callable[[], object]) -> None:
        self.cleanups.append(cleanup)

    def clean(self) -> None:
        for cleanup in self.cleanups:
            try:
                cleanup()
            except Exception as e:  # keep going: the sandboxes must still be removed
                print(f"cleanup failed: {e}", file=sys.stderr)

    def handler(self, *_) -> None:
        from codescale.sandboxes.lifecycle import shutdown

        shutdown(0)  # at once: no new sandbox starts, and no task ending now is recorded (eval/runs/solve.py)
        self.clean()
        interrupted(self.run_id)

    def __call__(self, message: str) -> None:
        self.clean()
        print(f"error: {message}", file=sys.stderr)
        SHOWN.error(message)
        remove_quietly(self.run_id)
        sys.stderr.flush()
        os._exit(1)


def exit_on_interrupt(run_id: str, *cleanups: Callable[[], object]) -> Interrupt:
    """From now on Ctrl-C and SIGTERM run `cleanups`, remove this run's sandboxes and leave at once.

    Returns the Interrupt, which, called as `abort(message)`, does the same from any thread for a failure that ends
    the run (e.g. its model server died): it prints `error: message` instead and exits with code 1."""
    interrupt = Interrupt(run_id, cleanups)
    signal.signal(signal.SIGINT, interrupt.handler)
    signal.signal(signal.SIGTERM, interrupt.handler)
    return interrupt


def remove_quietly(run_id: str) -> None:
    """Remove this run's containers (after the starts in flight settle), saying something only when that fails."""
    from codescale.sandboxes.docker import remove_containers
    from codescale.sandboxes.lifecycle import shutdown

    try:
        shutdown(SETTLE_SECONDS)
        remove_containers(run_id)
    except Exception as e:  # no engine: nothing of ours can be running in it
        print(f"no containers removed ({e})", file=sys.stderr)


SETTLE_SECONDS = 20.0
"""How long an interrupted run waits for the container starts and removals in flight before removing by label."""


def interrupted(run_id: str) -> None:
    """Remove this run's containers and leave with exit code 130."""
    from codescale.sandboxes.docker import remove_containers
    from codescale.sandboxes.lifecycle import shutdown

    print("\ninterrupted: removing this run's sandboxes", file=sys.stderr)
    SHOWN.warning("interrupted: removing this run's sandboxes")
    try:
        shutdown(SETTLE_SECONDS)  # a start in flight could otherwise make a container after the listing below
        removed = remove_containers(run_id)
        print(f"removed {removed} container(s)", file=sys.stderr)
    except Exception as e:  # no engine: nothing of ours can be running in it
        print(f"no containers removed ({e})", file=sys.stderr)
    sys.stderr.flush()
    os._exit(130)
