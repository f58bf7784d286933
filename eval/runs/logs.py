"""Where a process's log goes: the user's terminal (stderr) at the level `-v`/`-q` chose, and the log file of the run
it writes, RUN/codescale.log, at INFO: model retries, sandbox problems, every rollout's end, and every line the user
was shown (progress, warnings), each with its time."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

SHOWN = logging.getLogger("codescale.shown")
"""Lines the user was shown already (said on stderr, or drawn by the live display): the run's log keeps them, the
terminal's handler leaves them out."""
LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}
"""Verbosity (-q, none, -v, -vv) -> the lowest level shown on stderr."""
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_quiet = False
_everything = False
"""-vv: every library's records too (otherwise theirs count from WARNING: an HTTP client logs each request at INFO)."""


def worth_keeping(record: logging.LogRecord) -> bool:
    return _everything or record.levelno >= logging.WARNING or record.name.startswith("codescale")


class Terminal(logging.StreamHandler):
    """stderr as it is when a record arrives (a live display may have replaced it meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(lambda record: worth_keeping(record) and not record.name.startswith(SHOWN.name))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _) -> None:
        pass


class RunLog(logging.FileHandler):
    """RUN/codescale.log, appended to (the sessions of a resumed run follow each other)."""


def configure(verbosity: int = 0) -> None:
    """The process's logging for a command: stderr shows records from the level `verbosity` gives (-1 quiet: errors
    only, and no progress or other lines), the run's log file takes INFO once a run is opened."""
    global _quiet, _everything
    _quiet, _everything = verbosity < 0, verbosity > 1
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, Terminal)]:
        root.removeHandler(handler)
    terminal = Terminal()
    terminal.setLevel(LEVELS[max(-1, min(2, verbosity))])
    terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(terminal)
    root.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def quiet() -> bool:
    """Whether the user asked for errors only (-q)."""
    return _quiet


def log_to_run(path: Path) -> None:
    """From now on the process's log at INFO also goes to `path`, a run's codescale.log (instead of the log of a run
    this process opened before)."""
    root = logging.getLogger()
    if not root.handlers:  # no command set the terminal up (codescale used from Python): warnings stay on stderr
        configure(0)
    for handler in [h for h in root.handlers if isinstance(h, RunLog)]:
        root.removeHandler(handler)
        handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RunLog(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.addFilter(worth_keeping)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
