"""Files in and out of a container with the engine's archive API: no shell, no exec, any size, any bytes."""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from typing import Any

from codescale.sandboxes.base import SandboxError


def put_file(container: Any, target: str, payload: bytes) -> None:
    """Write `payload` to the absolute path `target` (its folder must exist), mode 0644."""
    import docker

    folder, name = posixpath.split(target)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(payload), 0o644, int(time.time())
        tar.addfile(info, io.BytesIO(payload))
    try:
        container.put_archive(folder, archive.getvalue())
    except docker.errors.APIError as e:
        raise SandboxError(f"cannot write {target} in container {container.name}: {e}") from e


def get_file(container: Any, target: str) -> bytes:
    """The bytes of the regular file at the absolute path `target`; SandboxError when there is none."""
    import docker

    try:
        stream, _ = container.get_archive(target)
        archive = io.BytesIO(b"".join(stream))
    except docker.errors.APIError as e:
        raise SandboxError(f"cannot read {target} in container {container.name}: {e}") from e
    with tarfile.open(fileobj=archive) as tar:
        member = tar.next()
        if member is None or not member.isfile():
            raise SandboxError(f"cannot read {target}: not a regular file")
        return tar.extractfile(member).read()
