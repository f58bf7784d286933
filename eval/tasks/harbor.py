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

import logging
import re
from pathlib import Path

from codescale.agent.records import TASK_ID
from codescale.eval.tasks import harbor_images
from codescale.eval.tasks.errors import TaskError, TaskSourceError
from codescale.eval.tasks.harbor_config import read_config, read_text
from codescale.eval.tasks.harbor_images import DEFAULT_WORKDIR
from codescale.eval.tasks.kinds.container import ContainerTask

SUITE_DIR = Path(__file__).parent / "terminal_suite"
SUITE_NAME = "codescale-terminal"
"""The name that selects the bundled Terminal-Bench-style suite."""
log = logging.getLogger(__name__)


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


def dockerfile_workdir(dockerfile: Path) -> str:
    """The last absolute WORKDIR of a Dockerfile (the one commands and tests run in), else ""."""
    found = re.findall(r"^\s*WORKDIR\s+(\S+)\s*$", dockerfile.read_text(errors="replace"), re.MULTILINE | re.IGNORECASE)
    return next((w for w in reversed(found) if w.startswith("/")), "")


def load_task_dir(task_dir: Path, base_image: str | None = None) -> ContainerTask:
    """One Harbor task directory as a ContainerTask.

    With `docker_image`, that image runs when it is present or can be pulled; environment/ (when there) is built
    otherwise, under a tag named by its content (eval/tasks/harbor_images.py). The work directory is the task's
    `[environment] workdir`, else the Dockerfile's WORKDIR, else the prebuilt image's, else DEFAULT_WORKDIR."""
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
    env = config.environment
    dockerfile = task_dir / "environment" / "Dockerfile"
    built = harbor_images.image_for(task_dir, base_image) if dockerfile.is_file() else ""
    if not env.docker_image and not built:
        if (task_dir / "environment" / "docker-compose.yaml").is_file():
            raise TaskError(name, "environment", "docker-compose environments are not supported; give a Dockerfile")
        raise TaskError(name, "environment/Dockerfile", "missing (and task.toml names no environment.docker_image)")
    workdir = env.workdir or (dockerfile_workdir(dockerfile) if built else "")
    if not workdir and env.docker_image:
        workdir = harbor_images.image_workdir(env.docker_image)  # "" until the image is here (see make_image)
    if ignored := config.not_honoured():
        log.warning("task %s: task.toml keys not honoured: %s", name, "; ".join(ignored))
    return ContainerTask(
        instance_id=name, problem_statement=instruction, image=env.docker_image or built,
        prebuilt_image=env.docker_image or "", environment_image=built,
        workdir=workdir or ("" if env.docker_image else DEFAULT_WORKDIR), task_dir=str(task_dir),
        verifier_timeout=config.verifier.timeout_sec, verifier_env=config.verifier.env,
        agent_timeout=config.agent.timeout_sec, difficulty=str(config.metadata.get("difficulty", "")),
        category=str(config.metadata.get("category", "")), base_image=base_image or "",
        cpus=env.cpus, memory_mb=env.memory_mb, storage_mb=env.storage_mb, allow_internet=env.allow_internet,
        env=config.container_env(),
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
