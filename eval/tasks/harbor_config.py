"""A Harbor task's `task.toml`, schema 1.0 (Terminal-Bench 2.0) and 1.1 (Terminal-Bench 2.1), as codescale reads it.

    [agent]        timeout_sec
    [verifier]     timeout_sec, [verifier.env]
    [environment]  docker_image, workdir, cpus, memory / memory_mb, storage / storage_mb, allow_internet (or
                   network_mode), [environment.env]
    [metadata]     free-form (difficulty and category are shown)

Sizes are MB numbers (`memory_mb = 2048`) or text with a unit (`memory = "4G"`, `"512M"`). Internet is allowed
when the task says nothing, as Harbor does. Keys that change nothing here (descriptions, the build timeout, no GPUs,
no MCP servers) are read silently; any other key, and any value codescale cannot honour, is named in one warning
per task (`HarborTaskConfig.not_honoured`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from codescale.eval.tasks.errors import TaskError

SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)I?B?\s*", re.IGNORECASE)
MB_PER_UNIT = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def size_mb(value: Any, key: str) -> int:
    """A size as whole MB: a number is MB already; text carries its unit ("4G", "512M", "2048" is MB)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{key}: not a size: {value!r}")
    if not isinstance(value, str):
        return int(value)
    found = SIZE.fullmatch(value)
    if not found:
        raise ValueError(f"{key}: not a size: {value!r} (write e.g. \"4G\" or \"512M\")")
    return int(float(found[1]) * MB_PER_UNIT[found[2].upper() or "M"])


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")  # kept, so that the warning can name them

    def unknown(self, prefix: str) -> list[str]:
        """The keys of this section (and its sections) that no field reads, as dotted names."""
        found = [f"{prefix}.{key}" for key in self.model_extra or {}]
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, _Section):
                found += value.unknown(f"{prefix}.{name}")
        return found


class HarborVerifier(_Section):
    timeout_sec: float = 600.0
    """Seconds test.sh may run."""
    env: dict[str, str] = {}
    """Environment of test.sh."""


class HarborAgent(_Section):
    timeout_sec: float = 600.0
    """Wall seconds the agent may work (caps the rollout's `agent.time_limit`)."""


class HarborEnvironment(_Section):
    build_timeout_sec: float = 600.0
    """Read, not used: an image build has no time limit here."""
    docker_image: str | None = None
    """A prebuilt image: used when present or pullable, else environment/ is built."""
    workdir: str | None = None
    """The work directory (1.1); else the Dockerfile's WORKDIR, else the image's, else /app."""
    cpus: float = 1.0
    memory_mb: int = 2048
    """Memory in MB; `memory = "4G"` is read into it."""
    storage_mb: int | None = None
    """Disk in MB; `storage = "10G"` is read into it."""
    allow_internet: bool = True
    """Whether the container may reach the internet, in the agent and the verifier phase (Harbor's default: yes)."""
    env: dict[str, str] = {}
    """Environment of every command in the container (1.1's [environment.env])."""
    gpus: int = 0
    mcp_servers: list[Any] = []
    os: str = "linux"

    @model_validator(mode="before")
    @classmethod
    def _units(cls, data: Any) -> Any:
        """`memory` / `storage` with units into `memory_mb` / `storage_mb`; `network_mode` into `allow_internet`."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in ("memory", "storage"):
            if name in data:
                mb = size_mb(data.pop(name), name)
                if f"{name}_mb" in data and data[f"{name}_mb"] != mb:
                    raise ValueError(f"{name} = {mb} MB disagrees with {name}_mb = {data[f'{name}_mb']}")
                data[f"{name}_mb"] = mb
        mode = data.pop("network_mode", None)  # Harbor's newer spelling: public, no-network, allowlist
        if mode is not None:
            data.setdefault("allow_internet", mode == "public")  # an allowlist gets no network at all here
            if mode not in ("public", "no-network"):
                data["network_mode"] = mode  # kept, so that the warning names it
        return data

    @field_validator("workdir")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"workdir must be an absolute path, not {value!r}")
        return value


class HarborTaskConfig(_Section):
    """One task.toml."""

    version: str = "1.0"
    schema_version: str = ""
    """1.1 names the schema so; 1.0 says `version`."""
    metadata: dict[str, Any] = {}
    """Free-form: difficulty, category, tags, author."""
    task: dict[str, Any] = {}
    """1.1's package description (name, description, authors, keywords)."""
    source: str | None = None
    artifacts: list[Any] = []
    solution: dict[str, Any] = {}
    """The reference solution's environment (codescale never runs it)."""
    verifier: HarborVerifier = HarborVerifier()
    agent: HarborAgent = HarborAgent()
    environment: HarborEnvironment = HarborEnvironment()

    def not_honoured(self) -> list[str]:
        """Every key of the file that changes nothing here although it might matter, with why where known."""
        found = [key.removeprefix("task_toml.") for key in self.unknown("task_toml")]
        env = self.environment
        if env.gpus:
            found.append(f"environment.gpus = {env.gpus} (no GPU is given to a container)")
        if env.mcp_servers:
            found.append("environment.mcp_servers (the agent has no MCP client)")
        if env.os != "linux":
            found.append(f"environment.os = {env.os!r} (only linux containers run)")
        if self.artifacts:
            found.append("artifacts (nothing is collected from the container)")
        found += [f"environment.env.{key} (takes its value from this machine's environment, which never enters a "
                  "container)" for key, value in env.env.items() if "${" in value]
        return found

    def container_env(self) -> dict[str, str]:
        """[environment.env] without the values taken from this machine's environment."""
        return {key: value for key, value in self.environment.env.items() if "${" not in value}


def read_text(task_dir: Path, name: str) -> str:
    """A text file of the task directory; TaskError when it is not UTF-8 text."""
    try:
        return (task_dir / name).read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise TaskError(task_dir.name, name, f"not UTF-8 text (byte {e.start}: {e.reason})") from None


def read_config(task_dir: Path) -> HarborTaskConfig:
    name = task_dir.name
    try:
        data = tomllib.loads(read_text(task_dir, "task.toml"))
    except tomllib.TOMLDecodeError as e:
        raise TaskError(name, "task.toml", f"not valid TOML ({e})") from None
    try:
        return HarborTaskConfig.model_validate(data)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(map(str, error["loc"]))
        raise TaskError(name, "task.toml" + (f":{where}" if where else ""), error["msg"].removeprefix("Value error, ")) from None
