"""The local model server: llama.cpp's OpenAI-compatible server as a child process on loopback.

`with LocalServer(name) as server:` joins the model file, starts the server on a free port, waits
until GET /v1/models answers and one tiny completion succeeds (so a server that crashes on its first
matrix multiply is found before any work starts), and stops it on exit. Every failure is a
LocalServerError of one line naming the cause and the server's log file, which is then kept.

Weights stay out of llama.cpp's "extra buffer types" (the CPU_REPACK and AMX buffers) unless a row sets
`repack_weights`: a llama.cpp built on a CPU that reports AMX (the source build compiles for the
building CPU) moves weights into its AMX buffer, and on virtual machines the first matrix multiply
there crashes with SIGSEGV. Plain CPU buffers run on every x86-64 CPU. The child dies with us however we end (Ctrl-C,
SIGTERM, an exception, even SIGKILL): its main (agent/models/local/child.py) exits as soon as its
stdin, a pipe from us, reaches end-of-file. `shared_server(name)` gives the one server of a process
that `local/<name>` model ids use, stopped at exit.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from codescale.agent.models.local.child import NO_EXTRA_BUFFERS
from codescale.agent.models.local.failure import exit_cause, memory_problem, port_problem
from codescale.agent.models.local.package import ModelPackageError, local_model, model_file


class LocalServerError(Exception):
    """The server could not be started, failed its first completion, or died: one line, naming its log."""


class LocalServerConfig(BaseModel):
    """How to run the local model server."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Row of configs/local.yaml to serve."""
    host: str = "127.0.0.1"
    """Loopback only: the server has no authentication."""
    port: int = 0
    """0: a free port is chosen."""
    threads: int = 0
    """CPU threads for generation; 0: one less than the cores (at least 1), which leaves a core to the
    sandboxes and measured faster on a busy 2-core machine, where llama.cpp's spinning threads fight."""
    startup_timeout: float = 120.0
    """Seconds to wait for the health check and the first completion before giving up."""
    log_path: Path | None = None
    """Where the server's output goes; None: a temporary file, removed when the server stops after a
    clean run and kept when it failed."""


def llama_cpp_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalServer:
    """A running llama.cpp server for one local model; `base_url` ends in /v1."""

    def __init__(self, name: str | LocalServerConfig, **settings):
        self.config = name if isinstance(name, LocalServerConfig) else LocalServerConfig(name=name, **settings)
        self.row = local_model(self.config.name)
        self.process: subprocess.Popen | None = None
        self.base_url = ""
        self.log_path: Path | None = None
        self.model_path: Path | None = None
        self.failure = ""
        """Why the server is gone, once it died on its own (one line; empty while it runs or after stop())."""
        self._own_log = False
        self._stopping = False

    def command(self, model_path: Path, port: int) -> list[str]:
        settings = {
            "model": str(model_path),
            "model_alias": self.config.name,
            "host": self.config.host,
            "port": port,
            "n_threads": self.config.threads or max(1, (os.cpu_count() or 1) - 1),
            **self.row.server,
        }
        if self.row.chat_format:
            settings["chat_format"] = self.row.chat_format
        args = [sys.executable, "-m", "codescale.agent.models.local.child"]
        if not self.row.repack_weights:
            args.append(NO_EXTRA_BUFFERS)
        for key, value in settings.items():
            args += [f"--{key}", str(value)]
        return args

    def start(self) -> LocalServer:
        if not llama_cpp_installed():
            raise ModelPackageError('the local model server needs llama-cpp-python: pip install -e ".[local]"')
        self.model_path = model_file(self.row)
        problem = port_problem(self.config.host, self.config.port) or memory_problem(self.row.size)
        if problem:
            raise LocalServerError(f"the local model server cannot start: {problem}")
        port = self.config.port or free_port(self.config.host)
        self._own_log = self.config.log_path is None
        if self._own_log:
            fd, name = tempfile.mkstemp(prefix=f"codescale-{self.config.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        else:
            self.log_path = self.config.log_path
        self._stopping, self.failure = False, ""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(self.model_path, port),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C reaches us only; we stop the child
            )
        self.base_url = f"http://{self.config.host}:{port}/v1"
        try:
            self.wait_healthy()
            self.first_completion()
        except BaseException as e:
            self.stop(keep_log=isinstance(e, LocalServerError))
            raise
        return self

    def error(self, cause: str) -> LocalServerError:
        return LocalServerError(f"the local model server {cause}; its log: {self.log_path}")

    def died(self, process: subprocess.Popen | None = None) -> LocalServerError:
        """The error for a child that has exited: its cause read from the exit code and the log."""
        process = process or self.process
        text = self.log_path.read_text(errors="replace") if self.log_path and self.log_path.is_file() else ""
        return self.error(exit_cause(process.returncode, text, self.model_path))

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise self.died()
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200 and json.load(reply).get("data"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self.error(f"did not answer within {self.config.startup_timeout:g} s")
            time.sleep(0.2)

    def first_completion(self) -> None:
        """Generate two tokens, so that a llama.cpp build that crashes when it computes is caught here."""
        body = json.dumps({"model": self.config.name, "prompt": "1, 2, 3,", "max_tokens": 2, "temperature": 0.0})
        request = urllib.request.Request(f"{self.base_url}/completions", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.config.startup_timeout) as reply:
                if json.load(reply).get("choices"):
                    return
            cause = "answered its first completion without a choice"
        except (OSError, ValueError) as e:
            try:
                self.process.wait(5)  # a crash closes the connection a moment before the exit code is there
            except subprocess.TimeoutExpired:
                pass
            if self.process.poll() is not None:
                raise self.died() from None
            cause = f"failed its first completion ({e})"
        raise self.error(cause)

    def watch(self, on_death) -> None:
        """Call `on_death(error)` from a daemon thread if the server dies on its own (not through stop())."""
        process = self.process

        def wait() -> None:
            process.wait()
            if not self._stopping and self.process is process:
                error = self.died(process)
                self.failure = str(error)
                on_death(error)

        threading.Thread(target=wait, name="local-server-watch", daemon=True).start()

    def stop(self, timeout: float = 10.0, keep_log: bool = False) -> None:
        """SIGTERM, then SIGKILL after `timeout` s; idempotent. The log of a server that died on its own
        (or `keep_log`) is kept."""
        self._stopping = True
        process, self.process = self.process, None
        if process is not None:
            if process.stdin:
                process.stdin.close()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            elif process.returncode != 0:
                keep_log = True
        if self._own_log and self.log_path and not keep_log and not self.failure:
            self.log_path.unlink(missing_ok=True)
            self._own_log = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


log = logging.getLogger(__name__)
_shared: dict[str, LocalServer] = {}
_shared_lock = threading.Lock()


def shared_server(name: str) -> LocalServer:
    """The process's one server for `name`, started on first use and stopped at exit. One that died on its own is
    started again, with a warning naming why it died (its log is kept)."""
    with _shared_lock:
        server = _shared.get(name)
        if server is not None and server.process is not None and server.process.poll() is not None:
            log.warning("%s; starting it again", server.died())
            server.stop(keep_log=True)
        if server is None or server.process is None:
            server = LocalServer(name).start()
            _shared[name] = server
            atexit.register(server.stop)
        return server


def stop_shared_servers() -> None:
    with _shared_lock:
        for server in _shared.values():
            server.stop()
        _shared.clear()
