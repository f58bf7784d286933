"""The Docker sandbox's check of its source when its container starts: the work directory and the base commit are
there. Done once per source in this process, so that only the first rollout of a source waits for it before its first
model call; a source that is missing costs no model call."""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait

SOURCE_SCRIPT = r"""
cd -- "$1" 2>/dev/null || { echo "the work directory $1 does not exist in the image"; exit 3; }
if [ -n "$2" ]; then
  git cat-file -e "$2^{commit}" 2>/dev/null || { echo "the base commit $2 is not in the repository at $1"; exit 4; }
  echo "$2"
else
  git rev-parse HEAD 2>/dev/null || true
fi
"""
"""bash script, arguments: the work directory and the base commit (may be empty). Checks that both exist when the
container starts, before any command of the agent, and prints the commit `diff` compares with (the HEAD found when
no base commit is given; nothing when there is no git repository)."""


MISSING = (3, 4)
"""SOURCE_SCRIPT's exit codes for a work directory, a base commit not found; any other failure means that the check
could not run (e.g. its container was stopped meanwhile)."""


def source_argv(workdir: str, base_commit: str) -> list[str]:
    return ["bash", "-c", SOURCE_SCRIPT, "codescale-source", workdir, base_commit]


_checks: dict[tuple[str, str, str], Future] = {}
"""(image, work directory, base commit) -> the check of that source in this process: done once a sandbox of it found
them (an error when its start failed; the next sandbox of the source checks again)."""
_lock = threading.Lock()


class SourceCheck:
    """One sandbox's part in the check of its source: the shared check it waits for, and whether it is the sandbox
    that makes it (the first of the source, or the next one after a start that failed)."""

    def __init__(self, source: tuple[str, str, str]):
        with _lock:
            check = _checks.get(source)
            self.mine = check is None or (check.done() and check.exception() is not None)
            if self.mine:
                check = _checks[source] = Future()
        self.check: Future = check

    def found(self, error: BaseException | None = None) -> None:
        """What this sandbox's start found (nothing missing: `error` None), told to the sandboxes of its source when
        it is the one that checks."""
        if self.mine and not self.check.done():
            if error is None:
                self.check.set_result(None)
            else:
                self.check.set_exception(error)

    def known(self, started: Future) -> bool:
        """Wait until the source is known to be there (True), or this sandbox's own start (`started`) is over first,
        or the shared check failed (False: that start says what it found)."""
        done, _ = wait([self.check, started], return_when=FIRST_COMPLETED)
        return self.check in done and self.check.exception() is None
