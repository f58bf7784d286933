"""The local sandbox: a throwaway clone of a local git repository. NOT isolated."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any

from codescale.sandboxes.base import TIMEOUT_RETURNCODE, CappedReader, Output, SandboxConfig, SandboxError, git_diff

OUTPUT_GRACE = 2.0
"""Seconds to wait for the rest of a command's output once bash has exited."""


class LocalSandboxConfig(SandboxConfig):
    """Settings of the local sandbox (only the common ones)."""

    kind: str = "local"
    """Which implementation: one of `SANDBOXES`."""


class LocalSandbox:
    """Runs each command as a fresh `bash -c` in a temporary clone of `repo_dir`, on this machine.

    NOT ISOLATED: commands run as the current user with full access to the file system and network.
    It only keeps the agent's edits out of `repo_dir` (a clone, checked out at `base_commit` or at
    `repo_dir`'s HEAD; uncommitted changes of `repo_dir` are not copied) and keeps the host's environment
    out of commands: they see only PATH, LANG, HOME (the temporary directory) and `config.env`, so API
    keys do not leak. A command past its timeout is killed with its whole process group (returncode 137,
    `timed_out=True`); a child that started its own session escapes that. A background process that
    outlives its command keeps running, even after `close`.
    """

    config_class = LocalSandboxConfig

    def __init__(
        self,
        config: LocalSandboxConfig,
        *,
        image: str = "",
        workdir: str = "",
        repo_dir: str,
        base_commit: str = "",
        run_id: str,
        name: str = "",
    ):
        self.config = config
        self.repo_dir = repo_dir
        self.base_commit = base_commit
        self.run_id = run_id
        self.name = name
        self.root: Path | None = None
        """The temporary directory: HOME of every command, holding the clone in `repo/`."""
        self.base = ""
        """The commit `diff` compares with."""

    @property
    def workdir(self) -> Path:
        if self.root is None:
            raise SandboxError("the sandbox is not running (use it inside `with`)")
        return self.root / "repo"

    def __enter__(self) -> LocalSandbox:
        return self.start()

    def start(self) -> LocalSandbox:
        """Clone the repository, in the foreground (a local clone takes milliseconds)."""
        if self.root is not None:
            return self
        self.root = Path(tempfile.mkdtemp(prefix="codescale-local-"))
        env = _env(self.root, self.config.env)
        try:
            self.base = _git(self.repo_dir, env, "rev-parse", "--verify", f"{self.base_commit or 'HEAD'}^{{commit}}")
            _git(self.repo_dir, env, "clone", "--quiet", "--no-checkout", ".", str(self.workdir))
            _git(str(self.workdir), env, "checkout", "--quiet", "--detach", self.base)
            _git(str(self.workdir), env, "remote", "remove", "origin")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def ready(self) -> None:
        self.workdir  # raises SandboxError when not started

    def wait_source(self) -> None:
        """Nothing to wait for: `start()` makes the clone, and finds its base commit, in the foreground."""
        self.ready()

    @classmethod
    def check(cls, config: LocalSandboxConfig, *, image: str = "", repo_dir: str = "", base_commit: str = "") -> str | None:
        """What would stop this sandbox from starting, in one line; None when nothing would."""
        try:
            _git(repo_dir, _env(Path(tempfile.gettempdir()), {}), "rev-parse", "--verify", f"{base_commit or 'HEAD'}^{{commit}}")
        except SandboxError as e:
            return str(e)
        return None

    def execute(self, command: str, timeout: float | None = None, *, persistent: bool = False) -> Output:
        if persistent:
            raise SandboxError("the local sandbox runs every command in a fresh shell (a persistent shell state needs "
                               "the docker sandbox with sandbox.shell: session)")
        return self._run(["bash", "-c", command], timeout or self.config.timeout, self.config.output_limit)

    def diff(self) -> str:
        return git_diff(self._run, self.base, max(self.config.timeout, 60.0), self.config.diff_exclude)

    def _path(self, path: str) -> Path:
        """`path` in the clone; one that leads out of the sandbox's directory is refused (this is the host)."""
        target = (self.workdir / path).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise SandboxError(f"{path}: outside the sandbox's directory {self.root}")
        return target

    def write_file(self, path: str, data: bytes | str) -> None:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)

    def read_file(self, path: str) -> bytes:
        target = self._path(path)
        try:
            return target.read_bytes()
        except OSError as e:
            raise SandboxError(f"cannot read {path}: {e.strerror or e}") from None

    def _run(self, argv: list[str], timeout: float, limit: int | None) -> Output:
        """Run `argv` in its own process group with stderr merged into stdout; kill the group at `timeout`."""
        proc = subprocess.Popen(
            argv, cwd=self.workdir, env=_env(self.root, self.config.env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        reader = CappedReader(_chunks(proc.stdout), limit)
        try:
            proc.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            try:  # bash is not reaped yet, so its process group id cannot have been reused
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            timed_out = True
        # Output may still be in the pipe, or a background process may hold it open: like the Docker daemon,
        # wait OUTPUT_GRACE seconds at most, then leave that process running and its reader behind.
        reader.wait(OUTPUT_GRACE)
        return Output(returncode=TIMEOUT_RETURNCODE if timed_out else proc.returncode, output=reader.text(), timed_out=timed_out)

    def end_processes(self) -> None:
        """Not possible here: a process that left its command's group is one of this machine's like any other."""
        raise SandboxError("the local sandbox cannot stop the processes its commands left running (it is not isolated)")

    def close(self) -> None:
        """Delete the temporary directory; safe to call twice."""
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """The whole environment of a command: nothing else of the host's reaches it."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "LANG": os.environ.get("LANG", "C.UTF-8"), **extra}


def _git(cwd: str, env: dict[str, str], *args: str) -> str:
    if not cwd or not Path(cwd).is_dir():
        raise SandboxError(f"repo_dir {cwd!r} is not a directory")
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SandboxError(f"git {args[0]} failed in {cwd}: {e}") from e
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SandboxError(f"git {args[0]} failed in {cwd} (is it a git repository with that commit?): {reason}")
    return done.stdout.strip()


def _chunks(pipe: IO[bytes]) -> Iterator[bytes]:
    """The pipe's bytes as they come; the pipe is closed by whoever reads to its end."""
    with pipe:
        yield from iter(partial(pipe.read1, 65536), b"")
