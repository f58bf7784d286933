"""Images of Harbor tasks: built from the task's environment/ folder, tagged by a hash of its content.

The base image reaches the Dockerfile as the build argument BASE_IMAGE (`ARG BASE_IMAGE=...` then
`FROM ${BASE_IMAGE}`), from --base-image or $CODESCALE_BASE_IMAGE; without either, the Dockerfile's own
default stands. An unchanged environment on the same base keeps its tag, so it is never rebuilt.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.images import image_exists, run_build

RECIPE_VERSION = "harbor-1"
"""Bump when the way these images are built changes, so every one is rebuilt."""


def base_image(explicit: str | None = None) -> str:
    """The BASE_IMAGE build argument: the explicit one, else $CODESCALE_BASE_IMAGE, else "" (the Dockerfile's)."""
    return explicit or os.environ.get("CODESCALE_BASE_IMAGE", "")


def content_hash(task_dir: Path, base: str) -> str:
    env = task_dir / "environment"
    digest = hashlib.sha256(f"{RECIPE_VERSION}\0{base}".encode())
    for path in sorted(env.rglob("*")):
        if path.is_file():
            executable = os.access(path, os.X_OK)
            digest.update(f"\0{path.relative_to(env).as_posix()}\0{executable:d}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def image_for(task_dir: Path, explicit_base: str | None = None) -> str:
    """The tag of a Harbor task's image (whether built yet or not)."""
    name = task_dir.name.lower()
    return f"codescale-tasks/{name}:{content_hash(task_dir, base_image(explicit_base))}"


def build(task, client) -> bool:
    """Build a container task's image from its task directory's environment/ unless it exists; whether it was built
    now. `task` is an eval.tasks.kinds.container.ContainerTask."""
    if image_exists(client, task.image):
        return False
    task_dir = Path(task.task_dir)
    if not (task_dir / "environment" / "Dockerfile").is_file():
        raise TaskError(task.instance_id, "image", f"{task.image!r} is not here and no environment/Dockerfile builds it")
    base = base_image(task.base_image or None)
    if image_for(task_dir, base or None) != task.image:
        raise TaskError(task.instance_id, "image", f"{task.image!r} does not match the task's environment/ any more "
                        "(the task changed since it was loaded)")
    run_build(
        client, task.image, owner=task.instance_id, base=base or "the Dockerfile's FROM",
        path=str(task_dir / "environment"), buildargs={"BASE_IMAGE": base} if base else {},
        labels={"codescale.task": task.instance_id, "codescale.content-hash": task.image.rsplit(":", 1)[1]},
    )
    return True
