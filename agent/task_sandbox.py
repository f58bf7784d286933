"""What a task's own `sandbox` field may change over the run's sandbox settings: it may only tighten them.

A task record is input someone else wrote. It may lower a limit (`LOWER_ONLY`) and add capabilities from the set its
kind allows (`Task.capabilities`); nothing else. Another capability, `no_new_privileges` off, a limit raised above
the run's or removed, a kept container, a start command, a network, an environment or another image are refused, in
one line, when the task is loaded (`refusal`) and again when its run's settings are known (`tightened`).
"""

from __future__ import annotations

import math
from typing import Any

LOWER_ONLY = ("timeout", "output_limit", "cpus", "pids_limit", "memory", "fsize", "disk_limit", "nofile")
"""Limits a task may lower, never raise or remove. A limit the run's sandbox does not have (the local sandbox has
only `timeout` and `output_limit`) is left out: that sandbox is not isolated anyway."""
SIZES = ("memory", "fsize", "disk_limit")
"""Of those, sizes ("512m", "4g"; "" means no limit, which a task may not ask for)."""


def _amount(key: str, value: Any) -> float:
    """A limit as a number to compare (a size in bytes); ValueError when it is not a positive one."""
    from codescale.sandboxes.docker_config import to_bytes

    if key in SIZES:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"may not remove the {key} limit")
        amount = float(to_bytes(value))
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, not {value!r}")
    else:
        amount = float(value)
    if not amount > 0 or math.isinf(amount):
        raise ValueError(f"{key} must be above 0 (it is {value!r})")
    return amount


def refusal(own: dict[str, Any] | None, capabilities: tuple[str, ...]) -> str | None:
    """Why a task's own sandbox settings are refused whatever the run's are, or None when they may apply."""
    if own is None:
        return None
    if not isinstance(own, dict):
        return "must be a mapping of sandbox settings"
    for key, value in own.items():
        if key == "cap_add":
            names = value if isinstance(value, list) else [value]
            others = [str(name) for name in names if str(name).upper().removeprefix("CAP_") not in capabilities]
            if others:
                allowed = ", ".join(capabilities) or "none"
                return f"may not add the capabilities {', '.join(others)} (its kind allows: {allowed})"
        elif key == "no_new_privileges":
            if value is not True:
                return "may not turn no_new_privileges off"
        elif key in LOWER_ONLY:
            try:
                _amount(key, value)
            except ValueError as e:
                return str(e)
        else:
            return f"may not set {key} (a task may only lower limits and add capabilities its kind allows)"
    return None


def tightened(own: dict[str, Any] | None, settings: dict[str, Any], capabilities: tuple[str, ...]) -> dict[str, Any]:
    """The run's sandbox `settings` with the task's own applied: its capabilities added, its lower limits taken.
    ValueError (one line) when the task's settings would loosen the run's."""
    from codescale.sandboxes.base import sandbox_config

    if problem := refusal(own, capabilities):
        raise ValueError(problem)
    run = sandbox_config(settings)
    merged = dict(settings)
    for key, value in (own or {}).items():
        if not hasattr(run, key):
            continue  # a setting this kind of sandbox does not have (the local sandbox: capabilities, most limits)
        if key == "cap_add":
            names = value if isinstance(value, list) else [value]
            merged[key] = sorted({*run.cap_add, *(str(n).upper().removeprefix("CAP_") for n in names)})
        elif key == "no_new_privileges":
            merged[key] = True
        elif key in SIZES and not getattr(run, key):
            merged[key] = value  # the run sets no limit there: the task's is tighter
        elif _amount(key, value) > _amount(key, getattr(run, key)):
            raise ValueError(f"may not raise {key} above the run's {getattr(run, key)!r} (asks for {value!r})")
        else:
            merged[key] = value
    return merged
