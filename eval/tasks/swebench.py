"""SWE-bench specifics of a batch run: the default dataset and the official prebuilt image names (pulled, retried
and bounded in disk by eval/tasks/image_cache.py).

The harness names an instance's image `<namespace>/sweb.eval.x86_64.<instance id>:latest`, lower-cased,
with every `__` written as `_1776_` (Docker Hub allows no double underscore).
"""

from __future__ import annotations

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
