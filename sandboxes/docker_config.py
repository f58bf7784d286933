"""The Docker sandbox's settings (`sandbox.*` in the config), and what they become as `containers.run` arguments."""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from codescale.sandboxes.base import SandboxConfig


class DockerSandboxConfig(SandboxConfig):
    """Settings of the Docker sandbox."""

    image: str = ""
    """Image to run; "" uses the one given by the task."""
    pull: bool = False
    """Pull the image when it is not present locally (otherwise a missing image is an error)."""
    memory: str = "2g"
    """Memory limit (swap is not added on top)."""
    cpus: float = Field(1.0, gt=0)
    """CPU limit, in cores."""
    pids_limit: int = Field(512, gt=0)
    """Most processes the container may hold at once."""
    network: str = "none"
    """Docker network mode; "none" leaves only the loopback interface."""
    init: bool = True
    """Run Docker's small init as PID 1 so that killed and orphaned processes are reaped."""
    start_command: list[str] = ["sleep", "infinity"]
    """What the container runs while commands are exec'd into it."""
    shell: Literal["exec", "session"] = Field(default_factory=lambda: default_shell())
    """How commands reach the container: `session` (one shell driver per container, started with it, runs every
    command) or `exec` (one `docker exec` per command). Default: `$CODESCALE_SANDBOX_SHELL`, else session."""
    warm_limit: int = Field(4, ge=0)
    """Containers started ahead of the rollouts that will take them (a strategy's next rollouts, a batch's next
    task) and kept idle, at most, with those being removed; 0 starts none ahead."""
    remove_on_exit: bool = True
    """Remove the container on close (False stops it and keeps it for inspection)."""
    cap_drop: list[str] = ["ALL"]
    """Linux capabilities taken from the container's root user ("ALL": every one, then `cap_add` gives some back)."""
    cap_add: list[str] = []
    """Capabilities given back after `cap_drop`. None by default: the bundled suite's gold patches and tests pass
    with none (a task whose tests need one, e.g. CHOWN, names it in its `sandbox` field)."""
    no_new_privileges: bool = True
    """Forbid gaining privileges through setuid binaries or file capabilities (`no-new-privileges`)."""
    nofile: int = Field(8192, gt=0)
    """Most open files a process may hold (the `nofile` ulimit, soft and hard)."""
    fsize: str = "1g"
    """Largest file a process may write (the `fsize` ulimit); a bigger write kills the writer ("File size limit
    exceeded"). "" leaves it unlimited."""
    disk_limit: str = "4g"
    """Most bytes the container may add to its image (its writable layer), watched while a command runs and after
    it: past it, the command's container is reported as a SandboxError and the rollout ends. "" switches the watch
    off. (The engine's overlay2-on-ext4 storage cannot enforce a size itself.)"""

    @field_validator("memory", "fsize", "disk_limit")
    @classmethod
    def _size(cls, value: str, info) -> str:
        if value or info.field_name == "memory":  # "" switches fsize and disk_limit off; memory always has a limit
            if to_bytes(value) <= 0:
                raise ValueError(f"{value!r} is not a size above 0")
        return value


def lockdown(config: DockerSandboxConfig) -> dict[str, Any]:
    """The `containers.run` arguments of the capability, privilege and ulimit settings."""
    from docker.types import Ulimit

    ulimits = [Ulimit(name="nofile", soft=config.nofile, hard=config.nofile)]
    if config.fsize:
        size = to_bytes(config.fsize)
        ulimits.append(Ulimit(name="fsize", soft=size, hard=size))
    return {
        "cap_drop": config.cap_drop,
        "cap_add": config.cap_add,
        "security_opt": ["no-new-privileges:true"] if config.no_new_privileges else [],
        "ulimits": ulimits,
    }


SHELL_VARIABLE = "CODESCALE_SANDBOX_SHELL"
"""The environment variable that sets the default of `sandbox.shell` (e.g. to run the test suite under each)."""


def default_shell() -> str:
    shell = os.environ.get(SHELL_VARIABLE) or "session"
    if shell not in ("exec", "session"):
        raise ValueError(f"${SHELL_VARIABLE}={shell!r}: expected exec or session")
    return shell


SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def to_bytes(size: str) -> int:
    """`"512m"`, `"4g"`, `"1000"` as a number of bytes (units of 1024); ValueError naming the text otherwise."""
    found = SIZE.fullmatch(size)
    if not found:
        raise ValueError(f"not a size: {size!r} (write e.g. 512m or 4g)")
    return int(float(found[1]) * UNITS[found[2].lower()])
