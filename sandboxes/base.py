"""The Sandbox contract: where commands run. Knows nothing of models or agents."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict


class Output(BaseModel):
    """The result of one command."""

    returncode: int
    output: str
    """stdout and stderr interleaved, capped at the sandbox's `output_limit`."""
    timed_out: bool = False


class SandboxError(Exception):
    """The sandbox itself failed (could not start, lost its container); not a failing command."""


class SandboxConfig(BaseModel):
    """Settings every sandbox takes."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "docker"
    """Which implementation: one of `SANDBOXES`."""
    timeout: float = 120.0
    """Seconds a command may run before it is killed."""
    output_limit: int = 1_000_000
    """Bytes of output kept per command; the rest is read and dropped."""
    env: dict[str, str] = {}
    """Extra environment for every command. Never put secrets here."""


class Sandbox(Protocol):
    """A context manager: `execute` runs one command statelessly in the work directory."""

    def __enter__(self) -> Sandbox: ...
    def __exit__(self, *exc: Any) -> None: ...
    def execute(self, command: str, timeout: float | None = None) -> Output: ...
    def diff(self) -> str: ...
    def close(self) -> None: ...


SANDBOXES = {
    "docker": "sandboxes.docker.DockerSandbox",
    "local": "sandboxes.local.LocalSandbox",
}


def sandbox_class(kind: str) -> type:
    if kind not in SANDBOXES:
        raise ValueError(f"unknown sandbox {kind!r}; known: {', '.join(sorted(SANDBOXES))}")
    module, _, name = SANDBOXES[kind].rpartition(".")
    return getattr(importlib.import_module(module), name)
