"""Terminal-Bench 2 tasks in the Harbor task format: one directory per task.

    <name>/instruction.md       what the agent is told
    <name>/task.toml            timeouts, resources, metadata ([verifier], [agent], [environment], [metadata])
    <name>/environment/         the image's build context (a Dockerfile)
    <name>/tests/test.sh        run after the agent, in its container, from /tests; writes the reward to
                                /logs/verifier/reward.txt (a number) or reward.json ({"reward": x})
    <name>/solution/solve.sh    a reference solution (optional)

A dataset is a folder of such directories. Each task is a ContainerTask (eval/tasks/kinds/container.py): the outcome
of a rollout is the container's end state, which the task's tests check.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from codescale.agent.records import TASK_ID
from codescale.eval.tasks import harbor_images
from codescale.eval.tasks.errors import TaskError, TaskSourceError
from codescale.eval.tasks.kinds.container import ContainerTask

SUITE_DIR = Path(__file__).parent / "terminal_suite"
SUITE_NAME = "codescale-terminal"
"""The name that selects the bundled Terminal-Bench-style suite."""
DEFAULT_WORKDIR = "/app"
"""The work directory when the Dockerfile sets none (Terminal-Bench images work in /app)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Harbor ignores keys it does not know; so do we


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
    docker_image: str | None = None
    """A prebuilt image to use instead of building environment/."""
    cpus: float = 1.0
    memory_mb: int = 2048
    storage_mb: int | None = None


class HarborTaskConfig(_Section):
    """One task.toml."""

    version: str = "1.0"
    metadata: dict[str, Any] = {}
    """Free-form: difficulty, category, tags, author."""
    verifier: HarborVerifier = HarborVerifier()
    agent: HarborAgent = HarborAgent()
    environment: HarborEnvironment = HarborEnvironment()


def is_task_dir(path: Path) -> bool:
    return (path / "instruction.md").is_file() and (path / "task.toml").is_file()


def is_dataset_dir(path: Path) -> bool:
    return path.is_dir() and not is_task_dir(path) and any(is_task_dir(p) for p in path.iterdir() if p.is_dir())


def task_dirs(path: Path) -> list[Path]:
    """The task directories of a dataset folder (or the one task directory `path`), sorted by name."""
    path = Path(path)
    if is_task_dir(path):
        return [path]
    if not path.is_dir():
        raise TaskSourceError(f"{path}: not a directory")
    found = sorted(p for p in path.iterdir() if p.is_dir() and is_task_dir(p))
    if not found:
        raise TaskSourceError(f"{path}: no task directories (each needs instruction.md and task.toml)")
    return found


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
        raise TaskError(name, "task.toml:" + ".".join(map(str, error["loc"])), error["msg"]) from None


def dockerfile_workdir(dockerfile: Path) -> str:
    """The last absolute WORKDIR of a Dockerfile (the one commands and tests run in), else DEFAULT_WORKDIR."""
    found = re.findall(r"^\s*WORKDIR\s+(\S+)\s*$", dockerfile.read_text(errors="replace"), re.MULTILINE | re.IGNORECASE)
    return next((w for w in reversed(found) if w.startswith("/")), DEFAULT_WORKDIR)


def load_task_dir(task_dir: Path, base_image: str | None = None) -> ContainerTask:
    """One Harbor task directory as a ContainerTask; its image tag is named by content."""
    task_dir = Path(task_dir).resolve()
    name = task_dir.name
    if not TASK_ID.fullmatch(name):
        raise TaskError(name, "(folder name)", "not a task name: letters, digits and . _ + - only (it becomes the id)")
    config = read_config(task_dir)
    instruction = read_text(task_dir, "instruction.md")
    if not instruction.strip():
        raise TaskError(name, "instruction.md", "empty")
    if not (task_dir / "tests" / "test.sh").is_file():
        raise TaskError(name, "tests/test.sh", "missing: nothing would check the container and write a reward")
    dockerfile = task_dir / "environment" / "Dockerfile"
    if config.environment.docker_image:
        image, workdir = config.environment.docker_image, DEFAULT_WORKDIR
    elif dockerfile.is_file():
        image, workdir = harbor_images.image_for(task_dir, base_image), dockerfile_workdir(dockerfile)
    elif (task_dir / "environment" / "docker-compose.yaml").is_file():
        raise TaskError(name, "environment", "docker-compose environments are not supported; give a Dockerfile")
    else:
        raise TaskError(name, "environment/Dockerfile", "missing (and task.toml names no environment.docker_image)")
    return ContainerTask(
        instance_id=name, problem_statement=instruction, image=image, workdir=workdir, task_dir=str(task_dir),
        verifier_timeout=config.verifier.timeout_sec, verifier_env=config.verifier.env, agent_timeout=config.agent.timeout_sec, difficulty=str(config.metadata.get("difficulty", "")),
        category=str(config.metadata.get("category", "")), base_image=base_image or "",
        cpus=config.environment.cpus, memory_mb=config.environment.memory_mb,
    )


def load_source(source: str | Path, base_image: str | None = None) -> list[ContainerTask]:
    """Every task of a Harbor dataset folder, a single task directory, or the bundled suite (by name)."""
    path = SUITE_DIR if str(source) == SUITE_NAME else Path(source)
    return [load_task_dir(d, base_image) for d in task_dirs(path)]


def is_source(source: str) -> bool:
    """Whether `source` names Harbor tasks: the bundled suite's name, a task directory or a folder of them."""
    if source == SUITE_NAME:
        return True
    path = Path(source)
    return path.is_dir() and (is_task_dir(path) or is_dataset_dir(path))
