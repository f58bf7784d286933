"""SWE-bench specifics of a batch run: the default dataset, the official prebuilt image names, pulling them.

The harness names an instance's image `<namespace>/sweb.eval.x86_64.<instance id>:latest`, lower-cased,
with every `__` written as `_1776_` (Docker Hub allows no double underscore).
"""

from __future__ import annotations

import logging
import time

from codescale.agent.records import Task
from codescale.eval.tasks import images
from codescale.eval.tasks.errors import TaskError

log = logging.getLogger(__name__)

VERIFIED = "SWE-bench/SWE-bench_Verified"
"""The Hugging Face dataset `codescale swebench` runs by default (Lite and full: `..._Lite`, `SWE-bench/SWE-bench`)."""
NAMESPACE = "swebench"
"""Where the official instance images are published."""


def image_name(instance_id: str, namespace: str = NAMESPACE, arch: str = "x86_64", tag: str = "latest") -> str:
    """The official prebuilt image of a SWE-bench instance."""
    return f"{namespace}/sweb.eval.{arch}.{instance_id}:{tag}".replace("__", "_1776_").lower()


def name_images(rows: list[dict], namespace: str = NAMESPACE) -> list[dict]:
    """Rows that name no image (or the default namespace's, when another is asked for) get the official one."""
    for row in rows:
        instance_id = str(row.get("instance_id") or "")
        if "__" in instance_id and (not row.get("image") or row["image"] == image_name(instance_id)):
            row["image"] = image_name(instance_id, namespace)
    return rows


def ensure_image(task: Task, client, attempts: int = 3, wait: float = 2.0) -> None:
    """Make sure the task's image is here: bundled images are built, others pulled, a failed pull retried
    `attempts` times in all (waiting `wait`, then twice as long, ...). Raises TaskError for this task only."""
    for attempt in range(1, attempts + 1):
        try:
            images.ensure_image(task, client)
            return
        except TaskError as e:
            if attempt == attempts or "could not be pulled" not in e.problem:
                raise
            log.warning("%s (attempt %d of %d); retrying in %.0f s", e, attempt, attempts, wait)
            time.sleep(wait)
            wait *= 2
