"""The Sandbox contract: where commands run. Knows nothing of models or agents."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Output(BaseModel):
    """The result of one command."""

    returncode: int
    output: str
    """stdout and stderr interleaved, capped at the sandbox's `output_limit`."""
    timed_out: bool = False


class SandboxError(Exception):
    """The sandbox itself failed (could not start, lost its container); not a failing command."""


class SandboxConfig(BaseModel):
    """Settings every sandbox takes."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "docker"
    """Which implementation: one of `SANDBOXES`."""
    timeout: float = Field(120.0, gt=0)
    """Seconds a command may run before it is killed."""
    output_limit: int = Field(1_000_000, gt=0)
    """Bytes of output kept per command; the rest is read and dropped."""
    env: dict[str, str] = {}
    """Extra environment for every command. Never put secrets here."""
    diff_exclude: list[str] = ["**/__pycache__/**", "**/*.pyc", "**/.pytest_cache/**"]
    """Globs of generated files left out of `diff()` even when no .gitignore names them."""


class Sandbox(Protocol):
    """A context manager: `execute` runs one command statelessly in the work directory (with `persistent`, where the
    sandbox keeps a shell state, in the state the last persistent command left: its directory, variables, ...)."""

    def __enter__(self) -> Sandbox:
        """`start()`, then `ready()`."""
    def __exit__(self, *exc: Any) -> None: ...
    def start(self) -> Sandbox:
        """Begin making the sandbox, possibly in the background; `close()` ends it either way."""
    def ready(self) -> None:
        """Wait until the sandbox is made, its work directory and base commit found; SandboxError when it could not
        be. Every command waits for it too."""
    def wait_source(self) -> None:
        """Wait until this sandbox's source (image or repository, work directory, base commit) is known to be there:
        found by a sandbox of the same source made in this process (without waiting for this one), or by this one;
        SandboxError when it is not."""
    def execute(self, command: str, timeout: float | None = None, *, persistent: bool = False) -> Output:
        """SandboxError for `persistent` where the sandbox keeps no shell state."""
    def diff(self) -> str: ...
    def write_file(self, path: str, data: bytes | str) -> None:
        """Write a file (parents made); a relative `path` is taken from the work directory."""
    def read_file(self, path: str) -> bytes:
        """A file's bytes; SandboxError when it cannot be read (missing, a directory)."""
    def end_processes(self) -> None:
        """Stop every process the commands started, those left running in the background included; the files stay.
        SandboxError when this sandbox cannot."""
    def close(self) -> None:
        """End the sandbox; safe to call twice. What it leaves may go in the background:
        `sandboxes.lifecycle.settle()` waits until it is gone."""
    @classmethod
    def check(cls, config: SandboxConfig, *, image: str = "", repo_dir: str = "", base_commit: str = "") -> str | None:
        """Why a sandbox could not be made for this source (missing image, not a git repo), or None. Cheap."""


TIMEOUT_RETURNCODE = 137
"""The returncode of a command killed at its timeout (128 + SIGKILL), in every sandbox."""


class CappedOutput:
    """A command's output as it comes: the first `limit` bytes kept, the rest counted (None: no limit)."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = len(chunk) if self.limit is None else max(0, self.limit - len(self.kept))
        self.kept += chunk[:room]
        self.dropped += len(chunk) - min(room, len(chunk))

    def text(self) -> str:
        """What was kept, decoded, with a last line saying how many bytes were dropped (if any)."""
        text = self.kept.decode("utf-8", errors="replace")
        if not self.dropped:
            return text
        newline = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{newline}[codescale: output truncated, {self.dropped} more bytes dropped after the first {self.limit}]\n"


class CappedReader:
    """Reads a command's output in a background thread into a `CappedOutput`.

    Reading on past the cap keeps the pipe drained, so a chatty command never blocks on a full pipe.
    """

    def __init__(self, chunks: Iterable[bytes], limit: int | None):
        self.output = CappedOutput(limit)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(chunks,), daemon=True)
        self._thread.start()

    def _read(self, chunks: Iterable[bytes]) -> None:
        try:
            for chunk in chunks:
                with self._lock:
                    self.output.add(chunk)
        except (OSError, ValueError):  # the stream was closed under us after a timeout: it is over
            pass

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the end of the stream; True when it has ended."""
        self._thread.join(max(0.0, seconds))
        return not self._thread.is_alive()

    def text(self) -> str:
        with self._lock:
            return self.output.text()


DIFF_SCRIPT = r"""
base=$1; shift
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$(git rev-parse --git-path index 2>/dev/null)" "$tmp/index" 2>/dev/null
export GIT_INDEX_FILE="$tmp/index"
git add -A -- . "$@" >/dev/null 2>"$tmp/err" &&
  git diff --cached --binary --no-color --no-ext-diff --src-prefix=a/ --dst-prefix=b/ "$base" 2>>"$tmp/err" ||
  { cat "$tmp/err"; exit 1; }
"""
"""bash -c script, arguments: the base commit, then pathspecs to leave out. Prints the change of the work tree
since the base, untracked files included, through a throwaway copy of the index so the agent's own index is
left alone."""


def git_diff(
    run: Callable[[list[str], float, int | None], Output], base: str, timeout: float, exclude: list[str] = ()
) -> str:
    """The patch from `base` to the work tree, via a sandbox's `run(argv, timeout, limit)`; `exclude` are globs."""
    if not base:
        raise SandboxError("cannot diff: the work directory had no git HEAD at start and no base commit was given")
    pathspecs = [f":(exclude,glob){pattern}" for pattern in exclude]
    out = run(["bash", "-c", DIFF_SCRIPT, "codescale-diff", base, *pathspecs], timeout, None)
    if out.returncode != 0 or out.timed_out:
        raise SandboxError(f"git diff against {base} failed (returncode {out.returncode}): {out.output.strip()[-500:]}")
    return out.output


SANDBOXES = {
    "docker": "codescale.sandboxes.docker.DockerSandbox",
    "local": "codescale.sandboxes.local.LocalSandbox",
}


def sandbox_class(kind: str) -> type:
    if kind not in SANDBOXES:
        raise ValueError(f"unknown sandbox {kind!r}; known: {', '.join(sorted(SANDBOXES))}")
    module, _, name = SANDBOXES[kind].rpartition(".")
    return getattr(importlib.import_module(module), name)


def sandbox_config(settings: dict[str, Any]) -> SandboxConfig:
    """Validate sandbox settings against the chosen sandbox's config class."""
    settings = {"kind": "docker", **settings}
    try:
        return sandbox_class(settings["kind"]).config_class.model_validate(settings)
    except ValidationError as e:
        problems = "; ".join(f"sandbox.{'.'.join(map(str, err['loc']))}: {err['msg'].removeprefix('Value error, ')}"
                             for err in e.errors())
        raise ValueError(problems) from None
