"""Text bound for the user's terminal, with the control characters a model or a command could slip in made visible."""

from __future__ import annotations

import re
import sys

from codescale.eval.runs import logs

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 controls but tab and newline (escape, carriage return, backspace, bell...), DEL, and the C1 controls (one of
which, CSI, starts an escape sequence by itself)."""


def plain(text: str) -> str:
    """`text` with every control character but tab and newline shown as `\\xNN`: an escape sequence in a model's
    output or a command's cannot recolour, move the cursor, retitle the window or hide what came before it."""
    return CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", text)


def stderr(line: str) -> None:
    """A line for the user on stderr (stdout stays for what a script reads), control characters made visible; not
    shown under -q. The run's log keeps it either way."""
    if not logs.quiet():
        print(plain(line), file=sys.stderr, flush=True)
    logs.SHOWN.info(plain(line))
