"""Task images: one per bundled task, built from a base image and tagged by a hash of the task's content; and
what every image build shares (`run_build`, `image_exists`).

An unchanged task (same repo files, setup commands, base image and recipe) keeps its tag, so it is never
rebuilt. Any other task must name an image that exists locally or can be pulled (eval/tasks/kinds/).
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import tarfile
from functools import cache
from pathlib import Path

from codescale.eval.tasks.bundled import COMMIT_MESSAGE, GIT_IDENTITY, SUITE_DIR, commit_sha, read_suite_task, repo_files
from codescale.eval.tasks.errors import TaskError

DEFAULT_BASE_IMAGE = "python:3.11-slim"
LOCAL_BASE_IMAGE = "codescale/base:bookworm"
"""The base image eval/tasks/base_image.sh makes (`codescale tasks base-image`), from python:3.11-slim where a registry
answers, else by debootstrap."""
WORKDIR = "/testbed"
RECIPE_VERSION = "1"
"""Bump when the Dockerfile below changes, so every task image is rebuilt."""

GIT_TOOLS = """\
RUN (command -v git && command -v patch) >/dev/null || (apt-get update -qq \\
    && apt-get install -y -qq --no-install-recommends git patch && rm -rf /var/lib/apt/lists/*)
"""
"""A Dockerfile line giving a Debian-based image what a sandbox's diff and patching need: git and patch."""
TOOLS = GIT_TOOLS + """\
RUN python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install --no-cache-dir -q pytest
"""
"""GIT_TOOLS, and pytest for the bundled tasks' tests (the base must have python3)."""

_DOCKERFILE = "FROM {base}\n" + TOOLS + """\
COPY repo {workdir}
WORKDIR {workdir}
RUN git init -q -b main && git add -A && {identity} git commit -q -m {message} \\
    && test "$(git rev-parse HEAD)" = "{sha}"
{setup}
LABEL codescale.task="{instance_id}" codescale.content-hash="{digest}"
STOPSIGNAL SIGKILL
"""
# STOPSIGNAL SIGKILL: containers run `tail -f /dev/null` as PID 1, which ignores SIGTERM, so `docker stop`
# would otherwise wait its full grace period on every graded patch.


def base_image(explicit: str | None = None) -> str:
    """The base image: the explicit one, else $CODESCALE_BASE_IMAGE, else the default one (`default_base_image`)."""
    return explicit or os.environ.get("CODESCALE_BASE_IMAGE") or default_base_image()


@cache
def default_base_image() -> str:
    """The public Python image; but where only the locally made base image is present (a machine without a
    registry, where base_image.sh made it), that one, so that the demo and `tasks build` work there as they are."""
    try:
        import docker

        api = docker.from_env().api
        found = [image for image in (DEFAULT_BASE_IMAGE, LOCAL_BASE_IMAGE) if api.images(name=image, quiet=True)]
    except Exception:  # no SDK or no engine: the public image it is
        found = []
    return found[0] if found else DEFAULT_BASE_IMAGE


def dockerfile(task_dir: Path, base: str, digest: str = "") -> str:
    meta = read_suite_task(task_dir)
    setup = "\n".join(f"RUN {command}" for command in meta.setup)
    if meta.setup:  # setup may only make ignored files: the tree must stay at the base commit
        setup += '\nRUN test -z "$(git status --porcelain)" || (git status --short; exit 1)'
    identity = " ".join(f"{k}={shlex.quote(v)}" for k, v in GIT_IDENTITY.items())
    return _DOCKERFILE.format(
        base=base, workdir=WORKDIR, identity=identity, message=COMMIT_MESSAGE, setup=setup,
        sha=commit_sha(repo_files(task_dir)), instance_id=meta.instance_id, digest=digest,
    )


def content_hash(task_dir: Path, base: str) -> str:
    digest = hashlib.sha256(f"{RECIPE_VERSION}\0{base}\0{dockerfile(task_dir, base)}".encode())
    for name, data in repo_files(task_dir).items():
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def image_tag(instance_id: str, digest: str) -> str:
    return f"codescale-tasks/{instance_id.lower()}:{digest}"


def suite_image(task_dir: Path, base: str) -> str:
    """The tag of a bundled task's image on this base (whether built yet or not)."""
    return image_tag(task_dir.name, content_hash(task_dir, base))


SYMLINK = 0o120000
"""A `modes` value marking a symbolic link (its data is the target), as git records one."""


def _context(text: str, files: dict[str, bytes], modes: dict[str, int]) -> io.BytesIO:
    """A build context: the Dockerfile, and `files` under repo/ (mode 0644 unless `modes` says otherwise)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, "Dockerfile", text.encode(), 0o644)
        for name, data in files.items():
            _add(tar, f"repo/{name}", data, modes.get(name, 0o644))
    buffer.seek(0)
    return buffer


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    if mode == SYMLINK:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, data.decode(), 0o777
        tar.addfile(info)
    else:
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))


def build_suite_image(task_dir: Path, base: str, client=None, no_cache: bool = False) -> tuple[str, bool]:
    """Build a bundled task's image unless its tag exists; returns (tag, whether it was built now).

    `no_cache` also bypasses Docker's layer cache (for measuring a build from scratch)."""
    import docker

    client = client or docker.from_env()
    digest = content_hash(task_dir, base)
    tag = image_tag(task_dir.name, digest)
    if image_exists(client, tag):
        return tag, False
    build_image(client, tag, dockerfile(task_dir, base, digest), repo_files(task_dir), owner=task_dir.name,
                base=base, no_cache=no_cache)
    return tag, True


def build_image(client, tag: str, text: str, files: dict[str, bytes], *, owner: str, base: str,
                modes: dict[str, int] | None = None, no_cache: bool = False) -> None:
    """Build `tag` from the Dockerfile `text` with `files` under repo/ in its context (see `_context`).

    A failed build raises TaskError naming `owner` (the task) with the last lines of the build log."""
    context = _context(text, files, modes or {})
    run_build(client, tag, owner=owner, base=base, fileobj=context, custom_context=True, nocache=no_cache)


MAKE_BASE = ("pass --base-image with an image present here that has python3 (or set $CODESCALE_BASE_IMAGE); "
             f"`codescale tasks base-image` makes {LOCAL_BASE_IMAGE}")
"""What to do when a task image's base image is missing: the option that names another, the command that makes one."""


def run_build(client, tag: str, *, owner: str, base: str, **options) -> None:
    """`client.images.build(tag=tag, **options)`; a failure raises TaskError naming `owner`, with the log's tail, or,
    when the base image is what is missing, in one line saying how to make or name one."""
    import docker

    try:
        client.images.build(tag=tag, rm=True, forcerm=True, **options)
    except docker.errors.BuildError as e:
        log = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in e.build_log).strip().splitlines()
        if base_missing(client, base):
            raise TaskError(owner, "image", f"building {tag}: the base image {base} is not here and could not be "
                            f"pulled ({log[-1] if log else e}); {MAKE_BASE}") from None
        tail = "\n".join(log[-8:])
        raise TaskError(owner, "image", f"building {tag} from base image {base} failed:\n{tail}") from None
    except docker.errors.APIError as e:
        if base_missing(client, base):
            raise TaskError(owner, "image", f"building {tag}: the base image {base} is not here and could not be "
                            f"pulled ({e}); {MAKE_BASE}") from None
        raise TaskError(owner, "image", f"building {tag} from base image {base} failed: {e}") from None


def base_missing(client, base: str) -> bool:
    """Whether `base`, an image name, is absent from the engine (False for what is not an image name, e.g. "the
    Dockerfile's FROM")."""
    import docker

    if not base or " " in base:
        return False
    try:
        client.images.get(base)
        return False
    except docker.errors.ImageNotFound:
        return True
    except docker.errors.APIError:
        return False


def image_exists(client, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
