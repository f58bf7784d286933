"""Image builds with BuildKit, through the `docker` CLI: `docker buildx build`, else `docker compose build` (Compose v2
builds with BuildKit itself). Task Dockerfiles may use what only BuildKit reads (`RUN --mount`, heredocs), which the
engine API's legacy builder (docker-py) refuses. The CLI finds the engine as docker-py does ($DOCKER_HOST) and its
plugins in $DOCKER_CONFIG."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from codescale.eval.tasks.errors import TaskError

LOG_LINES = 12
"""Lines of a failed build's output kept in its error."""


@functools.cache
def _probe(docker: str, plugin: str, config: str) -> bool:
    """Whether `docker <plugin> version` answers (`config`: $DOCKER_CONFIG, which says where plugins are)."""
    try:
        return subprocess.run([docker, plugin, "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def builder() -> str:
    """"buildx" or "compose": how BuildKit is reached here; "" when the docker CLI has neither (or is missing)."""
    docker = shutil.which("docker")
    if docker is None:
        return ""
    config = os.environ.get("DOCKER_CONFIG", "")
    return next((plugin for plugin in ("buildx", "compose") if _probe(docker, plugin, config)), "")


def build(owner: str, tag: str, context: Path, args: dict[str, str], labels: dict[str, str], how: str) -> None:
    """Build `context` (its Dockerfile) as `tag` with BuildKit, the way `how` names (see `builder`); TaskError naming
    `owner` (the task) with the end of the build's output when it fails."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    with tempfile.TemporaryDirectory(prefix="codescale-build-") as scratch:
        if how == "buildx":
            argv = ["docker", "buildx", "build", "--load", "-t", tag, "--progress", "plain"]
            argv += [f"--build-arg={k}={v}" for k, v in args.items()] + [f"--label={k}={v}" for k, v in labels.items()]
            argv.append(str(context))
        else:  # a one-service compose file whose only job is this build (JSON is YAML)
            spec = {"services": {"image": {"image": tag, "build": {"context": str(context), "args": args,
                                                                   "labels": labels}}}}
            compose = Path(scratch) / "compose.yaml"
            compose.write_text(json.dumps(spec))
            project = "codescale-build-" + tag.rsplit(":", 1)[-1].lower()
            argv = ["docker", "compose", "-f", str(compose), "-p", project, "--progress", "plain", "build"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=scratch)
        except OSError as e:
            raise TaskError(owner, "image", f"building {tag} with docker {how} failed: {e}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-LOG_LINES:])
        raise TaskError(owner, "image", f"building {tag} (docker {how}, BuildKit) failed:\n{tail}")
