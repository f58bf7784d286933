"""The local model server: llama.cpp's OpenAI-compatible server as a child process on loopback.

`with LocalServer(name) as server:` joins the model file, starts the server on a free port, waits
until GET /v1/models answers, and stops it on exit. The child dies with us however we end (Ctrl-C,
SIGTERM, an exception, even SIGKILL): it runs this module as its main, which exits as soon as its
stdin, a pipe from us, reaches end-of-file. `shared_server(name)` gives the one server of a process
that `local/<name>` model ids use, stopped at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from codescale.agent.models.local_package import ModelPackageError, local_model, model_file


class LocalServerError(Exception):
    """The server could not be started or did not become healthy; the message holds its log's tail."""


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
    """Seconds to wait for the health check before giving up."""
    log_path: Path | None = None
    """Where the server's output goes; None: a temporary file, removed when the server stops."""


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
        self._own_log = False

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
        args = [sys.executable, "-m", "codescale.agent.models.local_server"]
        for key, value in settings.items():
            args += [f"--{key}", str(value)]
        return args

    def start(self) -> LocalServer:
        if not llama_cpp_installed():
            raise ModelPackageError('the local model server needs llama-cpp-python: pip install -e ".[local]"')
        path = model_file(self.row)
        port = self.config.port or free_port(self.config.host)
        self._own_log = self.config.log_path is None
        if self._own_log:
            fd, name = tempfile.mkstemp(prefix=f"codescale-{self.config.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        else:
            self.log_path = self.config.log_path
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(path, port),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C reaches us only; we stop the child
            )
        self.base_url = f"http://{self.config.host}:{port}/v1"
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise LocalServerError(
                    f"the local model server exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200 and json.load(reply).get("data"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LocalServerError(
                    f"the local model server did not answer within {self.config.startup_timeout:g} s:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` s; idempotent."""
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
        if self._own_log and self.log_path:
            self.log_path.unlink(missing_ok=True)
            self._own_log = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


_shared: dict[str, LocalServer] = {}
_shared_lock = threading.Lock()


def shared_server(name: str) -> LocalServer:
    """The process's one server for `name`, started on first use and stopped at exit."""
    with _shared_lock:
        server = _shared.get(name)
        if server is None or server.process is None or server.process.poll() is not None:
            server = LocalServer(name).start()
            _shared[name] = server
            atexit.register(server.stop)
        return server


def stop_shared_servers() -> None:
    with _shared_lock:
        for server in _shared.values():
            server.stop()
        _shared.clear()


def _exit_with_parent() -> None:
    """In the child: leave at once when the parent's end of stdin closes (the parent is gone)."""
    sys.stdin.buffer.read()
    os._exit(0)


def _serve() -> None:
    """The child's main: watch stdin, then run llama.cpp's server with our argv."""
    import runpy

    threading.Thread(target=_exit_with_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _serve()
