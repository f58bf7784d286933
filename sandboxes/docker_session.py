"""The Docker sandbox's `session` shell: one bash driver per rollout (sandboxes/session_script.py), started by one
exec with stdin attached, runs every command of the rollout. The exec's connection carries the requests in and the
output back; each command's output lies between two markers carrying a random token of its own, which no command
can know, so no output can end a command early or pass for another's."""

from __future__ import annotations

import os
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from codescale.sandboxes.base import TIMEOUT_RETURNCODE, CappedOutput, Output, SandboxError
from codescale.sandboxes.docker_engine import engine_errors
from codescale.sandboxes.docker_exec import GRACE, POLL
from codescale.sandboxes.session_script import session_argv

HELLO_TIMEOUT = 60.0
"""Seconds a new session may take to answer its first request."""
LOST = ("[codescale: the shell session ended during this command; the next command starts in a new one, "
        "with a fresh shell state (directory, variables, functions)]\n")
"""Said after the output of a command during which a persistent session was lost."""


class Stream:
    """The exec's hijacked connection: requests are written to it, and the payloads of the stdout frames Docker
    multiplexes it into are read from it as one byte stream."""

    def __init__(self, sock: Any):
        self._sock = sock
        if hasattr(sock, "sendall") and hasattr(sock, "recv"):  # a socket already (TLS, ssh)
            self._conn = sock
        else:  # the socket.SocketIO of a plain connection: a socket of our own on a copy of its descriptor
            self._conn = socket.socket(fileno=os.dup(sock.fileno()))
        self._raw = b""
        self._left = 0
        """Payload bytes of the current frame not read yet."""

    def send(self, data: bytes) -> None:
        self._conn.sendall(data)

    def read(self, timeout: float) -> bytes | None:
        """The payload bytes that arrive within `timeout` seconds (b"" at the end of the stream, None if none came)."""
        self._conn.settimeout(max(timeout, 0.001))
        try:
            data = self._conn.recv(65536)
        except (socket.timeout, TimeoutError):
            return None
        if not data:
            return b""
        self._raw += data
        payload = bytearray()
        while self._raw:
            if self._left == 0:
                if len(self._raw) < 8:
                    break
                _, self._left = struct.unpack(">BxxxL", self._raw[:8])
                self._raw = self._raw[8:]
                continue
            piece, self._raw = self._raw[: self._left], self._raw[self._left:]
            self._left -= len(piece)
            payload += piece
        return bytes(payload) if payload else None

    def close(self) -> None:
        """End the connection for both sides at once (the SDK's own handle on it may live on until collected)."""
        try:
            self._conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for closing in (self._conn, self._sock):
            try:
                closing.close()
            except OSError:
                pass


class Scan:
    """One command's part of the stream: what comes before `<token>:start` is dropped (a previous command's
    leftovers), what follows goes to `output` until `<token>:end:<exit code>`."""

    def __init__(self, token: str, output: CappedOutput):
        self.start, self.end = f"{token}:start\n".encode(), f"{token}:end:".encode()
        self.output = output
        self.started = False
        self.code: int | None = None
        self._pending = b""

    def feed(self, data: bytes) -> None:
        if self.code is not None:
            return
        self._pending += data
        if not self.started:
            at = self._pending.find(self.start)
            if at < 0:
                self._pending = self._pending[-len(self.start):]
                return
            self.started, self._pending = True, self._pending[at + len(self.start):]
        at = self._pending.find(self.end)
        if at < 0:  # keep what could be the start of the marker
            cut = max(0, len(self._pending) - len(self.end))
            self.output.add(self._pending[:cut])
            self._pending = self._pending[cut:]
            return
        self.output.add(self._pending[:at])
        self._pending = self._pending[at:]
        line = self._pending.find(b"\n")
        if line >= 0:
            self.code = int(self._pending[len(self.end):line])


def request(token: str, mode: str, timeout: float, args: list[str], workdir: str = "") -> bytes:
    """One request to the driver: NUL-terminated fields (sandboxes/session_script.py's DRIVER)."""
    fields = [token, mode, f"{timeout:.3f}", workdir, str(len(args)), *args]
    return b"".join(field.encode("utf-8", "surrogateescape") + b"\0" for field in fields)


class SessionShell:
    """Runs each command through one long-lived driver in the container, with the contract of the `exec` shell:
    its own timeout and process group, killed with all it started at the timeout or the pids limit, output capped,
    stdout and stderr interleaved, stdin empty. A command line run with `persistent` starts in the shell state (the
    directory, variables, functions, aliases, options) the last such command left (sandboxes/session_script.py's
    WRAPPER); every other command starts afresh. A command that ends the driver gets the output it made and returncode 137, and the next
    command a new driver; a driver that stops answering is killed `GRACE` seconds past the timeout (the command
    counts as timed out). The connection is not shared: one command at a time."""

    def __init__(self, client: Any, container: Any, *, workdir: str, env: dict[str, str], name: str,
                 watch: Callable[[], None]):
        self.client, self.container, self.workdir, self.env, self.name, self.watch = (
            client, container, workdir, env, name, watch)
        self._stream: Stream | None = None
        self._pid = ""
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the driver now (a sandbox's background start does, so that its first command finds it)."""
        with self._lock:
            if self._stream is None:
                self._open()

    def _open(self) -> None:
        api = self.client.api
        folder = f"/tmp/.codescale-session-{uuid.uuid4().hex[:12]}"
        try:
            exec_id = api.exec_create(self.container.id, session_argv(folder, self.workdir), stdin=True, stdout=True,
                                      stderr=False, workdir="/" if self.workdir else None, environment=self.env)["Id"]
            stream = Stream(api.exec_start(exec_id, socket=True))
        except engine_errors() as e:
            raise SandboxError(f"cannot start a shell session in container {self.name}: {e}") from e
        token = secrets.token_hex(16)
        ready, seen = f"{token}:ready:".encode(), b""
        deadline = time.monotonic() + HELLO_TIMEOUT
        try:
            stream.send(request(token, "hello", 0, []))
            while not (ready in seen and seen.endswith(b"\n")) and time.monotonic() < deadline:
                data = stream.read(deadline - time.monotonic())
                if data == b"":
                    break
                seen += data or b""
        except OSError:
            pass
        if ready not in seen or not seen.endswith(b"\n"):
            stream.close()
            said = seen.decode(errors="replace").strip()
            raise SandboxError(f"the shell session did not start in container {self.name}: "
                               f"{said or 'no answer (it needs bash, mkfifo and a writable /tmp)'}")
        self._stream, self._pid = stream, seen.rsplit(b":", 1)[1].strip().decode()

    def run(self, argv: list[str], timeout: float, limit: int | None, *, shell: bool = False,
            persistent: bool = False, workdir: str = "") -> Output:
        """Run `argv` (`shell`: a command line; `persistent`: one in the kept shell state) in `workdir` (by default
        the work directory), stderr merged into stdout, killed after `timeout` seconds."""
        if any("\0" in arg for arg in argv):
            return Output(returncode=126, output="codescale: a command cannot hold a NUL byte; nothing ran\n")
        with self._lock:
            for attempt in (1, 2):
                if self._stream is None:
                    self._open()
                output, token, start = CappedOutput(limit), secrets.token_hex(16), time.monotonic()
                scan = Scan(token, output)
                mode = ("state" if persistent else "shell") if shell else "run"
                ended = self._exchange(scan, request(token, mode, timeout, argv, workdir), start + timeout + GRACE)
                if scan.code is not None:
                    timed_out = scan.code == TIMEOUT_RETURNCODE and time.monotonic() - start >= timeout
                    return Output(returncode=scan.code, output=output.text(), timed_out=timed_out)
                if ended:  # the driver is gone (killed, or its container restarted)
                    self._drop()
                    if not scan.started and attempt == 1:  # gone before this command began: run it in a new one
                        continue
                    if not scan.started:
                        raise SandboxError(f"the shell session in container {self.name} ended before it ran a command")
                    lost = LOST if persistent else ""
                    return Output(returncode=TIMEOUT_RETURNCODE, output=output.text() + lost)
                self._kill()  # no answer GRACE s past the timeout: the driver is stuck
                return Output(returncode=TIMEOUT_RETURNCODE, output=output.text(), timed_out=True)
        raise AssertionError("unreachable")

    def _exchange(self, scan: Scan, message: bytes, deadline: float) -> bool:
        """Send `message` and feed `scan` until its end marker (False), the end of the stream (True) or `deadline`
        (False), calling `watch` every `POLL` seconds."""
        try:
            self._stream.send(message)
        except OSError:
            return True
        watched = time.monotonic()
        while scan.code is None and time.monotonic() < deadline:
            try:
                data = self._stream.read(min(deadline, watched + POLL) - time.monotonic())
            except OSError:
                return True
            if data == b"":
                return True
            if data:
                scan.feed(data)
            if time.monotonic() - watched >= POLL:
                self.watch()
                watched = time.monotonic()
        return False

    def _kill(self) -> None:
        """Kill a driver that stopped answering, from an exec of its own, and forget it."""
        try:
            exec_id = self.client.api.exec_create(self.container.id, ["kill", "-KILL", self._pid])["Id"]
            self.client.api.exec_start(exec_id, detach=True)
        except engine_errors():
            pass  # its container is gone: so is the driver
        self._drop()

    def _drop(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None

    def restarted(self) -> None:
        """The container was restarted, which ended the driver: the next command starts a new one."""
        with self._lock:
            self._drop()

    def close(self) -> None:
        """End the driver (the end of its stdin) and the connection, without waiting for a command in flight (it then
        sees the end of its stream); safe to call twice."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
