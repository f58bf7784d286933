"""The Docker sandbox's `exec` shell: one `docker exec` per command, each under sandboxes/command_script.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from codescale.sandboxes.base import TIMEOUT_RETURNCODE, CappedReader, Output, SandboxError
from codescale.sandboxes.command_script import COMMAND_STATE, command_argv
from codescale.sandboxes.docker_engine import engine_errors

GRACE = 5.0
"""Seconds past a command's timeout after which the client stops waiting for its output stream."""
POLL = 5.0
"""Seconds between two calls of the `watch` (the disk check) while a command runs."""


class ExecShell:
    """Runs each command as its own exec in the container (stateless like mini-swe-agent), in `workdir` with `env`.

    A background process that outlives its command keeps running; the daemon closes the command's output about 2 s
    after the command exits, even if that process still holds it, so such a command returns that much later."""

    def __init__(self, client: Any, container: Any, *, workdir: str, env: dict[str, str], name: str,
                 watch: Callable[[], None]):
        self.client, self.container, self.workdir, self.env, self.name, self.watch = (
            client, container, workdir, env, name, watch)

    def run(self, argv: list[str], timeout: float, limit: int | None, *, shell: bool = False,
            persistent: bool = False, workdir: str = "") -> Output:
        """Exec `argv` (`shell`: a command line, run by `bash -c`) in `workdir` (by default the work directory) with
        stderr merged into stdout, killed after `timeout` seconds. No shell state is kept (`persistent` is refused)."""
        if persistent:
            raise SandboxError("a persistent shell state needs sandbox.shell: session")
        api = self.client.api
        wrapped = command_argv(["bash", "-c", *argv] if shell else argv, timeout)
        start = time.monotonic()
        try:
            exec_id = api.exec_create(self.container.id, wrapped, workdir=workdir or self.workdir,
                                      environment=self.env)["Id"]
            stream = api.exec_start(exec_id, stream=True)
        except engine_errors() as e:
            raise SandboxError(f"docker exec failed in container {self.name}: {e}") from e
        reader = CappedReader(stream, limit)
        ended = self._wait(reader, start + timeout + GRACE)
        stream.close()  # at the end of the stream; before it, when the daemon failed to close it in time
        reader.wait(1.0)
        try:
            returncode = self._exit_code(exec_id, start + timeout + GRACE)
        except engine_errors() as e:
            raise SandboxError(f"lost the command in container {self.name}: {e}") from e
        timed_out = not ended or (returncode == TIMEOUT_RETURNCODE and time.monotonic() - start >= timeout)
        return Output(returncode=TIMEOUT_RETURNCODE if timed_out else returncode, output=reader.text(), timed_out=timed_out)

    def _wait(self, reader: CappedReader, deadline: float) -> bool:
        """Wait for the end of the output until `deadline`, calling `watch` every `POLL` seconds."""
        while time.monotonic() < deadline:
            if reader.wait(min(POLL, deadline - time.monotonic())):
                return True
            self.watch()
        return reader.wait(0)

    def _exit_code(self, exec_id: str, deadline: float) -> int:
        """The exec's exit code, once the daemon reports it finished (briefly after its stream ends)."""
        while True:
            info = self.client.api.exec_inspect(exec_id)
            if not info["Running"] and info["ExitCode"] is not None:
                return info["ExitCode"]
            if time.monotonic() > deadline:
                return TIMEOUT_RETURNCODE
            time.sleep(0.02)

    def restarted(self) -> None:
        """The container was restarted: the process groups COMMAND_SCRIPT remembers are gone."""
        try:
            cleared = self.client.api.exec_create(self.container.id, ["rm", "-f", COMMAND_STATE])["Id"]
            self.client.api.exec_start(cleared)
        except engine_errors() as e:
            raise SandboxError(f"cannot clear the command state in container {self.name}: {e}") from e

    def close(self) -> None:
        """Nothing to close."""
