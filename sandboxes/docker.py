"""The Docker sandbox: one fresh container per rollout, one `docker exec` per command."""

from __future__ import annotations

import contextlib
import io
import posixpath
import tarfile
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from codescale.sandboxes.base import TIMEOUT_RETURNCODE, CappedReader, Output, SandboxError, git_diff
from codescale.sandboxes.command_script import COMMAND_STATE, command_argv
from codescale.sandboxes.docker_config import DockerSandboxConfig, lockdown, to_bytes
from codescale.sandboxes.docker_engine import (
    RUN_LABEL,
    SANDBOX_LABEL,
    found_images,
    engine_errors,
    image_problem,
    remove_containers,
    shared_client,
)
from codescale.sandboxes.lifecycle import REMOVALS, STARTS, ShuttingDown, check_open

__all__ = ["DockerSandbox", "DockerSandboxConfig", "RUN_LABEL", "remove_containers"]
"""What other modules take from here (the settings and the engine helpers live in docker_config / docker_engine)."""

GRACE = 5.0
"""Seconds past a command's timeout after which the client stops waiting for its output stream."""
DISK_POLL = 5.0
"""Seconds between two looks at the container's writable layer while a command runs."""


SOURCE_SCRIPT = r"""
cd -- "$1" 2>/dev/null || { echo "the work directory $1 does not exist in the image"; exit 3; }
if [ -n "$2" ]; then
  git cat-file -e "$2^{commit}" 2>/dev/null || { echo "the base commit $2 is not in the repository at $1"; exit 4; }
  echo "$2"
else
  git rev-parse HEAD 2>/dev/null || true
fi
"""
"""bash script, arguments: the work directory and the base commit (may be empty). Checks that both exist when the
container starts, before any command of the agent, and prints the commit `diff` compares with (the HEAD found when
no base commit is given; nothing when there is no git repository)."""
source_checks: dict[tuple[str, str, str], Future] = {}
"""(image, work directory, base commit) -> the check of that source in this process: done once a sandbox of it found
them (an error when its start failed; the next sandbox of the source checks again)."""
_sources_lock = threading.Lock()


class DockerSandbox:
    """Runs each command as a fresh `bash -c` (not a login shell) in `workdir` of a private container.

    Only the image's environment and `config.env` reach a command, never the host's. A command past its
    timeout is killed with its whole process group by coreutils `timeout -s KILL` inside the container
    (returncode 137, `timed_out=True`); the client stops waiting `GRACE` seconds later whatever happens.
    A background process that outlives its command keeps running (the daemon closes the command's output
    about 2 s after the command exits, even if that process still holds it), unless the pids limit is hit:
    then the groups of the command and of earlier ones still alive are killed (sandboxes/command_script.py),
    so a fork bomb never outlives its command. A child that started its own session escapes these kills; it
    ends with the container. The container runs locked down (`DockerSandboxConfig`: no capabilities,
    no-new-privileges, nofile/fsize ulimits, a disk watch; SECURITY.md).

    `start()` starts the container in the background (a rollout's first model call needs none) and `close()`
    removes it in the background (sandboxes.lifecycle: `settle()` waits for it, and so does the interpreter at exit);
    `with` waits for the start.
    """

    config_class = DockerSandboxConfig

    def __init__(
        self,
        config: DockerSandboxConfig,
        *,
        image: str = "",
        workdir: str = "/testbed",
        repo_dir: str = "",
        base_commit: str = "",
        run_id: str,
        name: str = "",
    ):
        self.config = config
        self.image = config.image or image
        self.workdir = workdir
        self.base_commit = base_commit
        self.run_id = run_id
        self.name = name
        self.container_name = f"codescale-{uuid.uuid4().hex[:12]}"
        self.base = ""
        """The commit `diff` compares with: `base_commit`, or the HEAD found at start."""
        self._client: Any = None
        self._container: Any = None
        self._started: Future | None = None
        self._source_check: Future | None = None
        """The check of this sandbox's source it waits for (its own, when it is the first of the source)."""
        self._checks_source = False
        self._closed = False

    def __enter__(self) -> DockerSandbox:
        self.start()
        try:
            self.ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> DockerSandbox:
        """Begin starting the container in the background and return at once (sandboxes.lifecycle); `ready()`
        and every command wait for it."""
        if self._started is None:
            with _sources_lock:
                check = source_checks.get(self.source)
                if check is None or (check.done() and check.exception() is not None):
                    check = source_checks[self.source] = Future()
                    self._checks_source = True
                self._source_check = check
            self._started = STARTS.submit(self._start)
        return self

    def ready(self) -> None:
        """Wait until the container runs; SandboxError when it could not be started."""
        if self._started is None or self._started.cancelled():
            raise SandboxError("the sandbox is not running (use it inside `with`, or call start())")
        error = self._started.exception()
        if error is not None:
            raise error

    def _start(self) -> None:
        """The background start: a start that fails leaves no container and raises SandboxError."""
        import docker

        try:
            check_open()
            self._client = shared_client()
            self._create()
        except BaseException as e:
            self._source_checked(e)
            with contextlib.suppress(Exception):  # close() tries again; the run's label finds it otherwise
                self._remove()
            if isinstance(e, SandboxError):
                raise
            if isinstance(e, (docker.errors.DockerException, ShuttingDown, *engine_errors())):
                raise SandboxError(f"cannot start a container of {self.image}: {e}") from e
            raise

    def _create(self) -> None:
        self._container = self._client.containers.run(
            self._find_image(),
            command=self.config.start_command,
            name=self.container_name,
            detach=True,
            labels={RUN_LABEL: self.run_id, SANDBOX_LABEL: self.name},
            # The container's own, as `docker inspect` shows it; the engine makes it when the image lacks it (as
            # Harbor's does), except where a repository at a base commit is expected: the source check names it.
            working_dir=(self.workdir or None) if not self.base_commit else None,
            mem_limit=self.config.memory,
            memswap_limit=self.config.memory,
            nano_cpus=int(self.config.cpus * 1e9),
            pids_limit=self.config.pids_limit,
            network_mode=self.config.network,
            init=self.config.init,
            **lockdown(self.config),
        )
        self.base = self._check_source()

    def _find_image(self) -> str:
        if self.image in found_images:
            return self.image
        problem = image_problem(self._client, self.image, pull=False)
        if problem and self.image and self.config.pull:
            self._client.images.pull(self.image)
        elif problem:
            raise SandboxError(problem)
        found_images.add(self.image)
        return self.image

    @classmethod
    def check(cls, config: DockerSandboxConfig, *, image: str = "", repo_dir: str = "", base_commit: str = "") -> str | None:
        """What would stop this sandbox from starting, in one line (no engine, no image); None when nothing would."""
        import docker

        try:
            client = shared_client()
            client.ping()
        except docker.errors.DockerException as e:
            return f"no Docker engine reachable ({e})"
        return image_problem(client, config.image or image, config.pull) or None

    def _check_source(self) -> str:
        """The commit `diff` compares with, once the work directory and the base commit are found in the container;
        SandboxError naming what is missing otherwise."""
        out = self._run(["bash", "-c", SOURCE_SCRIPT, "codescale-source", self.workdir, self.base_commit], 60.0, 2000,
                        workdir="/")
        if out.returncode != 0:
            raise SandboxError(f"{out.output.strip() or 'its source could not be checked'} ({self.image})")
        self._source_checked(None)
        return out.output.strip().splitlines()[-1] if out.output.strip() else ""

    def _source_checked(self, error: BaseException | None) -> None:
        """Tell the sandboxes of the same source what this one's start found (when it is the one that checks)."""
        if self._checks_source and not self._source_check.done():
            if error is None:
                self._source_check.set_result(None)
            else:
                self._source_check.set_exception(error)

    @property
    def source(self) -> tuple[str, str, str]:
        return self.image, self.workdir, self.base_commit

    def wait_source(self) -> None:
        """Wait until this sandbox's work directory and base commit are known to exist: found by the first sandbox
        of the same source in this process (this one, or another started before or beside it), or, when that one's
        start failed, by this one's own start; SandboxError when they are not."""
        if self._started is None:
            raise SandboxError("the sandbox is not running (use it inside `with`, or call start())")
        shared = self._source_check
        done, _ = wait([shared, self._started], return_when=FIRST_COMPLETED)
        if shared in done and shared.exception() is None:
            return
        self.ready()

    def execute(self, command: str, timeout: float | None = None) -> Output:
        return self._run(["bash", "-c", command], timeout or self.config.timeout, self.config.output_limit)

    def diff(self) -> str:
        return git_diff(self._run, self.base, max(self.config.timeout, 60.0), self.config.diff_exclude)

    def _path(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.workdir, path))

    def write_file(self, path: str, data: bytes | str) -> None:
        """Copied in as a tar archive (no shell, any size, any bytes); parents are made first."""
        import docker

        target = self._path(path)
        folder, name = posixpath.split(target)
        made = self._run(["mkdir", "-p", folder], 60.0, 2000)
        if made.returncode != 0:
            raise SandboxError(f"cannot write {target}: {made.output.strip()}")
        payload = data.encode() if isinstance(data, str) else data
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(payload), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(payload))
        try:
            self._container.put_archive(folder, archive.getvalue())
        except docker.errors.APIError as e:
            raise SandboxError(f"cannot write {target} in container {self.container_name}: {e}") from e

    def read_file(self, path: str) -> bytes:
        import docker

        target = self._path(path)
        self.ready()
        try:
            stream, _ = self._container.get_archive(target)
            archive = io.BytesIO(b"".join(stream))
        except docker.errors.APIError as e:
            raise SandboxError(f"cannot read {target} in container {self.container_name}: {e}") from e
        with tarfile.open(fileobj=archive) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise SandboxError(f"cannot read {target}: not a regular file")
            return tar.extractfile(member).read()

    def _run(self, argv: list[str], timeout: float, limit: int | None, workdir: str | None = None) -> Output:
        """Exec `argv` (in `workdir`, by default the work directory) with stderr merged into stdout, killed after
        `timeout` seconds (see sandboxes/command_script.py)."""
        if self._closed:
            raise SandboxError("the sandbox is not running (use it inside `with`)")
        if self._container is None:
            self.ready()
        wrapped = command_argv(argv, timeout)
        api = self._client.api
        start = time.monotonic()
        try:
            exec_id = api.exec_create(self._container.id, wrapped, workdir=workdir or self.workdir,
                                      environment=self.config.env)["Id"]
            stream = api.exec_start(exec_id, stream=True)
        except engine_errors() as e:
            raise SandboxError(f"docker exec failed in container {self.container_name}: {e}") from e
        reader = CappedReader(stream, limit)
        ended = self._wait(reader, start + timeout + GRACE)
        stream.close()  # at the end of the stream; before it, when the daemon failed to close it in time
        reader.wait(1.0)
        try:
            returncode = self._exit_code(exec_id, start + timeout + GRACE)
        except engine_errors() as e:
            raise SandboxError(f"lost the command in container {self.container_name}: {e}") from e
        self._check_disk()
        timed_out = not ended or (returncode == TIMEOUT_RETURNCODE and time.monotonic() - start >= timeout)
        return Output(returncode=TIMEOUT_RETURNCODE if timed_out else returncode, output=reader.text(), timed_out=timed_out)

    def _wait(self, reader: CappedReader, deadline: float) -> bool:
        """Wait for the end of the output until `deadline`, looking at the disk used every `DISK_POLL` seconds."""
        while time.monotonic() < deadline:
            if reader.wait(min(DISK_POLL, deadline - time.monotonic())):
                return True
            self._check_disk()
        return reader.wait(0)

    def _check_disk(self) -> None:
        """SandboxError when the container's writable layer has grown past `disk_limit`."""
        if not self.config.disk_limit:
            return
        try:
            found = self._client.api.containers(all=True, size=True, filters={"id": self._container.id})
        except engine_errors() as e:
            raise SandboxError(f"lost container {self.container_name}: {e}") from e
        if not found:
            raise SandboxError(f"container {self.container_name} is gone (killed or removed from outside)")
        used, allowed = found[0].get("SizeRw") or 0, to_bytes(self.config.disk_limit)
        if used > allowed:
            raise SandboxError(f"container {self.container_name} wrote {used} bytes to its disk, past its disk_limit "
                               f"of {self.config.disk_limit}; the rollout is stopped")

    def _exit_code(self, exec_id: str, deadline: float) -> int:
        """The exec's exit code, once the daemon reports it finished (briefly after its stream ends)."""
        while True:
            info = self._client.api.exec_inspect(exec_id)
            if not info["Running"] and info["ExitCode"] is not None:
                return info["ExitCode"]
            if time.monotonic() > deadline:
                return TIMEOUT_RETURNCODE
            time.sleep(0.02)

    def end_processes(self) -> None:
        """Stop every process in the container, those its commands left running included (a restart: no process
        survives, whatever session or user it runs as; the files stay). The next command starts afresh."""
        self.ready()
        api = self._client.api
        try:
            self._container.restart(timeout=0)
            cleared = api.exec_create(self._container.id, ["rm", "-f", COMMAND_STATE])["Id"]  # its groups are gone
            api.exec_start(cleared)
        except engine_errors() as e:
            raise SandboxError(f"cannot restart container {self.container_name}: {e}") from e

    def close(self) -> None:
        """Remove (or, with `remove_on_exit: false`, stop) the container in the background; safe to call twice.
        `sandboxes.lifecycle.settle()` waits for every removal, and so does the interpreter before it exits."""
        if self._closed:
            return
        self._closed = True
        if self._started is None or self._started.cancel():  # never started, or its start never began
            self._source_checked(SandboxError("closed before it started"))
            return
        REMOVALS.submit(self._finish)

    def _finish(self) -> None:
        """After the start is over (done or failed): what close() does with the container."""
        self._started.exception()
        if self.config.remove_on_exit:
            self._remove()
        else:
            self._stop()

    def _remove(self) -> None:
        import docker

        if self._client is None:
            return
        try:
            self._client.api.remove_container(self.container_name, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: its removal is already in progress
                raise

    def _stop(self) -> None:
        import docker

        try:
            self._client.api.stop(self.container_name, timeout=1)
        except docker.errors.NotFound:
            pass
