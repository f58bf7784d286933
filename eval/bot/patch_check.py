"""Check a final patch the way a reviewer would: apply it in a fresh sandbox of the task and run a test command."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from codescale.agent.records import Task
from codescale.agent.rollout import open_sandbox

PATCH_PATH = "../codescale-final.patch"
"""Beside the work directory, not in it: the test command sees a clean checkout plus the patch."""
TAIL_LINES = 60
TAIL_CHARS = 6_000


class CheckResult(BaseModel):
    """What the test command made of the patch."""

    command: str
    applied: bool
    """Whether the patch applied to a clean checkout of the base commit."""
    returncode: int | None = None
    """The test command's exit code; None when it did not run."""
    timed_out: bool = False
    output: str = ""
    """The last lines of the command's output (or git's complaint when the patch did not apply)."""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.applied and self.returncode == 0 and not self.timed_out


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def check_patch(task: Task, patch: str, command: str, sandbox: dict[str, Any], *, run_id: str,
                timeout: float) -> CheckResult:
    """Apply `patch` in a fresh sandbox of `task` (settings `sandbox`), then run `command` there for at most
    `timeout` seconds. Raises SandboxError when the sandbox itself fails."""
    start = time.monotonic()
    with open_sandbox(task, sandbox, run_id=run_id, name=f"{task.instance_id}.check") as box:
        box.write_file(PATCH_PATH, patch)
        applied = box.execute(f"git apply --whitespace=nowarn {PATCH_PATH}", timeout=120)
        if applied.returncode != 0:
            return CheckResult(command=command, applied=False, output=tail(applied.output),
                               seconds=time.monotonic() - start)
        out = box.execute(command, timeout=timeout)
    return CheckResult(command=command, applied=True, returncode=out.returncode, timed_out=out.timed_out,
                       output=tail(out.output), seconds=time.monotonic() - start)
