"""Task kinds: the type of a task, chosen once from its record (its `kind` field).

    patch.py       PatchTask: SWE-bench style; the outcome is a change to the repository, graded by its tests
    container.py   ContainerTask: Terminal-Bench (Harbor) style; the outcome is the container's final state, checked
                   by the task's own tests in that container when the agent is done

Each kind owns its prompts and config overlay, whether the agent takes a diff, what stands for its outcome in
summaries and selections, why an attempt is empty, what runs after a rollout, how its image is made and how it is
graded (base.py says what each hook does). A new kind is a new module here and a row in KINDS.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import ValidationError

from codescale.agent.records import Refusal, Task
from codescale.eval.tasks.errors import TaskError, TaskRefused
from codescale.eval.tasks.kinds.base import GradeJob, TaskKind

KINDS = {
    "patch": "codescale.eval.tasks.kinds.patch.PatchTask",
    "container": "codescale.eval.tasks.kinds.container.ContainerTask",
}

__all__ = ["KINDS", "GradeJob", "TaskKind", "as_kind", "ensure_image", "ensure_images", "grade", "kind_class"]


def kind_class(name: str) -> type[TaskKind]:
    if name not in KINDS:
        raise ValueError(f"unknown task kind {name!r}; known: {', '.join(KINDS)}")
    module, _, cls = KINDS[name].rpartition(".")
    return getattr(importlib.import_module(module), cls)


def as_kind(record: Task | dict[str, Any], name: str = "") -> TaskKind:
    """The record as an instance of its kind's class (a TaskKind passes through). TaskError names the record (its
    instance id, else `name`) and the field at fault."""
    if isinstance(record, TaskKind):
        return record
    data = record.model_dump() if isinstance(record, Task) else dict(record)
    if "outcome" in data and "kind" not in data:  # the field's name in run directories of earlier versions
        data["kind"] = data.pop("outcome")
    label = str(data.get("instance_id") or name or "?")
    try:
        cls = kind_class(str(data.get("kind") or "patch"))
    except ValueError as e:
        raise TaskError(label, "kind", str(e)) from None
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        refused = [err for err in errors if isinstance((err.get("ctx") or {}).get("error"), Refusal)]
        error = (refused or errors)[0]
        field = ".".join(map(str, error["loc"])) or ("sandbox" if refused else "?")
        problem = "missing (required)" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
        raise (TaskRefused if refused else TaskError)(label, field, problem) from None


def grade(jobs: list[GradeJob], log_dir, workers: int = 2, timeout: int = 1800) -> list:
    """The grade of every job, in order: each kind grades its own jobs at once (the harness grades patches in
    parallel; a container task's grade is the reward its tests wrote)."""
    grades: dict[int, Any] = {}
    by_kind: dict[type, list[int]] = {}
    for index, job in enumerate(jobs):
        by_kind.setdefault(type(job.task), []).append(index)
    for cls, indexes in by_kind.items():
        for index, found in zip(indexes, cls.grade([jobs[i] for i in indexes], log_dir, workers, timeout)):
            grades[index] = found
    return [grades[i] for i in range(len(jobs))]


def ensure_image(task: Task, client=None) -> bool:
    """Make sure the task's image is present: made by its kind (built or pulled) when it is not; whether it was made
    now. TaskError when it cannot be."""
    import docker

    from codescale.eval.tasks.images import image_exists

    client = client or docker.from_env()
    task = as_kind(task)
    if not task.image:
        raise TaskError(task.instance_id, "image", "no image given (the task runs and is graded inside its image)")
    if image_exists(client, task.image):
        return False
    return task.make_image(client)


def ensure_images(tasks: list[Task], workers: int = 2) -> None:
    """`ensure_image` for many tasks, `workers` at a time; the first failure is raised."""
    import docker

    client = docker.from_env()
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for future in [pool.submit(ensure_image, task, client) for task in tasks]:
            future.result()
