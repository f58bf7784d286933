"""Saying once what a backend could not honour: in the log (once per process) and in a Model's `notes`, which the
run record carries. Shared by the thinking policy and the providers, so that a setting is never silently ignored."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Log a warning the first time `key` is seen in this process."""
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def note(notes: list[str], message: str) -> None:
    """Say that a setting could not be honoured: once in the log (per process) and once in `notes`, which
    the Model exposes so that the run record can carry it."""
    warn_once(message, message)
    if message not in notes:
        notes.append(message)
