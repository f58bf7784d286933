"""The Docker engine as every sandbox of a process shares it: one client, the errors that mean the engine or a
container was lost, the image check, and removal of a run's containers by label."""

from __future__ import annotations

import threading
from typing import Any

RUN_LABEL = "codescale.run_id"
SANDBOX_LABEL = "codescale.sandbox"

found_images: set[str] = set()
"""Images this process has found locally; a sandbox of one of these skips the lookup."""
CONNECTIONS_PER_URL = 64
"""Connections kept per URL by the shared client: above the threads that can ask the engine the same thing at
once (the 32 background starts, the removals, the rollouts' own calls)."""
_client: Any = None
_client_lock = threading.Lock()


def shared_client() -> Any:
    """One Docker client for the whole process: made once (it asks the engine its API version), shared by every
    sandbox. docker-py keeps one connection pool per URL (the 25 most recent); more threads than a pool holds on
    one URL at once (e.g. 16 starts asking for the same image) overflow it, and urllib3 can then fail with an
    AttributeError when that pool has just been dropped. Pools as large as the most threads we run avoid it."""
    global _client
    import docker

    with _client_lock:
        if _client is None:
            _client = docker.from_env(max_pool_size=CONNECTIONS_PER_URL)
            _client.api.trust_env = False  # no proxy lookup in the environment on every API call (a tenth of
            # the engine's CPU at 16 rollouts at once); the engine's address and TLS come from DOCKER_* anyway
        return _client


def engine_errors() -> tuple[type[BaseException], ...]:  # noqa: N802 (a constant, made late: docker imports slowly)
    """What the client raises when a command's container or the engine itself is lost: an API error, or a
    dropped connection (the engine restarted or stopped)."""
    import docker
    import requests

    return docker.errors.APIError, requests.exceptions.ConnectionError


def image_problem(client: Any, image: str, pull: bool) -> str:
    import docker

    if not image:
        return "no Docker image given (neither the task nor the sandbox config names one)"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return "" if pull else f"Docker image {image!r} not found locally (build it, or set pull: true)"
    return ""


def remove_containers(run_id: str | None = None) -> int:
    """Force-remove the containers of run `run_id` (of every codescale run when None); returns how many.

    Safe beside other removers of the same containers (a sandbox's background removal, another node's sweep on a
    shared engine): the listing asks for ids only, and a container gone or being removed meanwhile is skipped."""
    import docker

    api = docker.from_env().api
    label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
    removed = 0
    for container in api.containers(all=True, filters={"label": label}):
        try:
            api.remove_container(container["Id"], force=True)
            removed += 1
        except docker.errors.NotFound:  # removed meanwhile, e.g. by its own sandbox
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: its own sandbox is removing it right now
                raise
    return removed
