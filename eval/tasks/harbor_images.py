"""Images of Harbor tasks: the task's prebuilt `docker_image` when it is here or can be pulled, else built from the
task's environment/ folder, tagged by a hash of its content (a machine that reaches no registry builds it).

Builds go through BuildKit (eval/tasks/buildkit.py) where the docker CLI offers it, else through the engine's legacy
builder, with a warning saying so. The base image reaches the Dockerfile as the build argument BASE_IMAGE
(`ARG BASE_IMAGE=...` then `FROM ${BASE_IMAGE}`), from --base-image or $CODESCALE_BASE_IMAGE; without either, the
Dockerfile's own default stands. An unchanged environment on the same base keeps its tag, so it is never rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from codescale.eval.tasks import buildkit
from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.images import image_exists, run_build

DEFAULT_WORKDIR = "/app"
"""The work directory when neither the task nor its image names one (Terminal-Bench images work in /app)."""

log = logging.getLogger(__name__)

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


def image_workdir(image: str, client=None) -> str:
    """The WORKDIR of `image` (DEFAULT_WORKDIR when it names none); "" when the image is not here to look at."""
    try:
        import docker

        client = client or docker.from_env()
        found = client.images.get(image).attrs.get("Config") or {}
    except Exception:  # no SDK, no engine, no such image: not known yet
        return ""
    return found.get("WorkingDir") or DEFAULT_WORKDIR


def make(task, client) -> bool:
    """Make a container task's image present (`task` is an eval.tasks.kinds.container.ContainerTask); whether it was
    pulled or built now. Its prebuilt image when here or pullable; else environment/ is built and `task.image` becomes
    that build's tag. A work directory still unknown is then read from the image."""
    pulled = _prebuilt(task, client)
    made = _build(task, client) if pulled is None else pulled
    if not task.workdir:
        task.workdir = image_workdir(task.image, client) or DEFAULT_WORKDIR
    return made


def _prebuilt(task, client) -> bool | None:
    """The task's prebuilt image as `task.image`: whether it was pulled now; None when there is none to use."""
    import docker

    image = task.prebuilt_image
    if not image:
        return None
    if image_exists(client, image):
        task.image = image
        return False
    try:
        client.images.pull(image)
    except docker.errors.DockerException as e:
        reason = str(e).splitlines()[0][:300]
        if not task.environment_image:
            raise TaskError(task.instance_id, "image", f"{image!r} is not here and could not be pulled ({reason}); "
                            "no environment/Dockerfile builds it") from None
        log.warning("task %s: %s is not here and could not be pulled (%s); building its environment/ as %s instead",
                    task.instance_id, image, reason, task.environment_image)
        return None
    task.image = image
    return True


def _build(task, client) -> bool:
    """Build the task's environment/ unless its tag exists (task.image set to it); whether it was built now."""
    task_dir, tag = Path(task.task_dir), task.environment_image
    if not tag or not (task_dir / "environment" / "Dockerfile").is_file():
        raise TaskError(task.instance_id, "image", f"{task.image!r} is not here and no environment/Dockerfile builds it")
    task.image = tag
    if image_exists(client, tag):
        return False
    base = base_image(task.base_image or None)
    if image_for(task_dir, base or None) != tag:
        raise TaskError(task.instance_id, "image", "its environment/ changed since the task was loaded; load it again")
    args = {"BASE_IMAGE": base} if base else {}
    labels = {"codescale.task": task.instance_id, "codescale.content-hash": tag.rsplit(":", 1)[1]}
    context = task_dir / "environment"
    how = buildkit.builder()
    if how:
        buildkit.build(task.instance_id, tag, context, args, labels, how)
    else:
        log.warning("task %s: the docker CLI offers no BuildKit here (neither `docker buildx` nor `docker compose`); "
                    "building %s with the engine's legacy builder, which refuses BuildKit-only Dockerfile syntax "
                    "(e.g. RUN --mount)", task.instance_id, tag)
        run_build(client, tag, owner=task.instance_id, base=base or "the Dockerfile's FROM", path=str(context),
                  buildargs=args, labels=labels)
    return True
