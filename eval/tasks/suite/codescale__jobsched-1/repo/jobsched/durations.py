"""Durations written as text: "90s", "5 min", "1h30m", "2 hours 15 minutes", "250ms"."""

from __future__ import annotations

import datetime as dt
import re

_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """A timedelta from `text`; a bare number means seconds."""
    text = text.strip()
    if not text:
        raise ValueError("empty duration")
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot read duration {text!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
        total += number * _unit_seconds(unit, text)
        pos = match.end()
    return dt.timedelta(seconds=total)


def _unit_seconds(unit: str, text: str) -> float:
    if not unit:
        return 1
    try:
        return _SECONDS[unit[0]]
    except KeyError:
        raise ValueError(f"unknown unit {unit!r} in duration {text!r}") from None
