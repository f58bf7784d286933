"""The Docker sandbox: one fresh container per rollout; its commands run in one shell session (or one `docker exec`
each)."""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from concurrent.futures import Future
from typing import Any

from codescale.sandboxes.base import Output, SandboxError, git_diff
from codescale.sandboxes.docker_config import DockerSandboxConfig, lockdown, to_bytes
from codescale.sandboxes.docker_exec import ExecShell
from codescale.sandboxes.docker_files import get_file, put_file
from codescale.sandboxes.docker_session import SessionShell
from codescale.sandboxes.docker_source import MISSING, SourceCheck, source_argv
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


class DockerSandbox:
    """Runs each command as a fresh `bash -c` (not a login shell) in `workdir` of a private container.

    Only the image's environment and `config.env` reach a command, never the host's. A command past its
    timeout is killed with its whole process group by coreutils `timeout -s KILL` inside the container
    (returncode 137, `timed_out=True`); the client stops waiting a few seconds later whatever happens.
    A background process that outlives its command keeps running, unless the pids limit is hit: then the groups
    of the command and of earlier ones still alive are killed (sandboxes/command_script.py), so a fork bomb never
    outlives its command. A child that started its own session escapes these kills; it ends with the container (or
    at `end_processes`, a restart of it).
    The container runs locked down (`DockerSandboxConfig`: no capabilities, no-new-privileges, nofile/fsize
    ulimits, a disk watch; SECURITY.md).

    `config.shell` says how commands reach the container: `session` (sandboxes/docker_session.py: one driver
    started with the container, every command, the diff included, through it) or `exec` (sandboxes/docker_exec.py:
    one `docker exec` per command). `execute(..., persistent=True)` (a session only) runs a command in the shell
    state the last such command left. Files are copied with the engine's archive API.

    `start()` starts the container in the background (a rollout's first model call needs none; its start checks
    the work directory and the base commit, sandboxes/docker_source.py, which `wait_source` waits for) and `close()`
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
        self._shell: ExecShell | SessionShell | None = None
        self._started: Future | None = None
        self._source: SourceCheck | None = None
        """The check of this sandbox's source it waits for (its own, when it is the first of the source)."""
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
            self._source = SourceCheck((self.image, self.workdir, self.base_commit))
            self._started = STARTS.submit(self._start)
        return self

    def ready(self) -> None:
        """Wait until the container runs, its work directory and base commit found; SandboxError when it could not
        be started."""
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
            self._source.found(e)
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
        where = dict(workdir=self.workdir, env=self.config.env, name=self.container_name, watch=self._check_disk)
        if self.config.shell == "session":
            shell = SessionShell(self._client, self._container, **where)
            shell.start()
        else:
            shell = ExecShell(self._client, self._container, **where)
        self._shell = shell
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
        """The commit `diff` compares with, once the work directory and the base commit are found in the container
        (sandboxes/docker_source.py, run from the root); SandboxError naming what is missing otherwise."""
        out = self._run(source_argv(self.workdir, self.base_commit), 60.0, 2000, workdir="/")
        if out.returncode in MISSING:
            raise SandboxError(f"{out.output.strip()} ({self.image})")
        if out.returncode != 0:
            raise SandboxError(f"cannot check the work directory and base commit in container {self.container_name}: "
                               f"{out.output.strip()[-300:] or f'exit code {out.returncode}'}")
        self._source.found()
        return out.output.strip().splitlines()[-1] if out.output.strip() else ""

    def wait_source(self) -> None:
        """Wait until this sandbox's work directory and base commit are known to exist: found by the first sandbox
        of the same source in this process (this one, or another started before or beside it), or, when that one's
        start failed, by this one's own start; SandboxError when they are not."""
        if self._started is None:
            raise SandboxError("the sandbox is not running (use it inside `with`, or call start())")
        if not self._source.known(self._started):
            self.ready()

    def execute(self, command: str, timeout: float | None = None, *, persistent: bool = False) -> Output:
        return self._run([command], timeout or self.config.timeout, self.config.output_limit, shell=True,
                         persistent=persistent)

    def diff(self) -> str:
        return git_diff(self._run, self.base, max(self.config.timeout, 60.0), self.config.diff_exclude)

    def _path(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.workdir, path))

    def write_file(self, path: str, data: bytes | str) -> None:
        """Copied in with the engine's archive API (no shell, any size, any bytes); parents are made first."""
        target = self._path(path)
        made = self._run(["mkdir", "-p", posixpath.dirname(target)], 60.0, 2000)
        if made.returncode != 0:
            raise SandboxError(f"cannot write {target}: {made.output.strip()}")
        put_file(self._container, target, data.encode() if isinstance(data, str) else data)

    def read_file(self, path: str) -> bytes:
        self.ready()
        return get_file(self._container, self._path(path))

    def _run(self, argv: list[str], timeout: float, limit: int | None, *, shell: bool = False,
             persistent: bool = False, workdir: str = "") -> Output:
        """Run `argv` (`shell`: a command line, `persistent` in the kept shell state) in the container's shell, in
        `workdir` (by default the work directory), stderr merged into stdout, killed after `timeout` seconds; then
        look at the disk it used."""
        if self._closed:
            raise SandboxError("the sandbox is not running (use it inside `with`)")
        if self._shell is None:
            self.ready()
        out = self._shell.run(argv, timeout, limit, shell=shell, persistent=persistent, workdir=workdir)
        self._check_disk()
        return out

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

    def end_processes(self) -> None:
        """Stop every process in the container, those its commands left running included (a restart: no process
        survives, whatever session or user it runs as; the files stay). The next command starts afresh, in a new
        shell session when there was one (the restart ended it) and with a fresh shell state."""
        self.ready()
        try:
            self._container.restart(timeout=0)
        except engine_errors() as e:
            raise SandboxError(f"cannot restart container {self.container_name}: {e}") from e
        self._shell.restarted()

    def close(self) -> None:
        """Remove (or, with `remove_on_exit: false`, stop) the container in the background; safe to call twice.
        `sandboxes.lifecycle.settle()` waits for every removal, and so does the interpreter before it exits."""
        if self._closed:
            return
        self._closed = True
        if self._started is None or self._started.cancel():  # never started, or its start never began
            if self._source is not None:
                self._source.found(SandboxError("closed before it started"))
            return
        REMOVALS.submit(self._finish)

    def _finish(self) -> None:
        """After the start is over (done or failed): what close() does with the container."""
        self._started.exception()
        if self._shell is not None:
            self._shell.close()
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
