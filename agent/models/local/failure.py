"""Why the local model server failed, in one line: from its exit code and its log, and from checks made
before it starts (a port in use, too little memory). Every message names the server's log file."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

MEMORY_MARGIN = 256 << 20
"""A floor checked before start, not an estimate: with less free than the model file plus this, the server
cannot even load. Its context and compute buffers need more (about 680 MiB for the default row at n_ctx
16384, from its log); running out there is found in the log and named the same way."""

LOG_SIGNS = [
    # (text in the log, lower case; the cause it means)
    ("address already in use", "could not listen: its port is in use"),
    ("failed to allocate", "ran out of memory"),
    ("cannot allocate memory", "ran out of memory"),
    ("std::bad_alloc", "ran out of memory"),
    ("memoryerror", "ran out of memory"),
    ("failed to load model", "could not load the model file {model} (corrupt or not a GGUF file: delete it, "
                             "and it is joined again from the installed packages on the next start)"),
    ("gguf_init_from_file", "could not load the model file {model} (corrupt or not a GGUF file: delete it, "
                            "and it is joined again from the installed packages on the next start)"),
]


def exit_cause(returncode: int, log_text: str, model: Path) -> str:
    """What ended the server: a sign in its log when there is one, else its exit code or signal."""
    lowered = log_text.lower()
    for sign, cause in LOG_SIGNS:
        if sign in lowered:
            return cause.format(model=model)
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number == signal.SIGKILL:
            return f"was killed ({name}: out of memory, or killed from outside)"
        if number in (signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT):
            return f"crashed ({name}) in llama.cpp"
        return f"was stopped by {name}"
    return f"exited with code {returncode}"


def port_problem(host: str, port: int) -> str | None:
    """Why `port` cannot be listened on (0 never has a problem: a free port is picked)."""
    if not port:
        return None
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as e:
            return f"port {port} on {host} is in use ({e.strerror})"
    return None


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_problem(model_bytes: int) -> str | None:
    """Why the model will not fit in the memory free now, or None."""
    free = available_memory()
    need = model_bytes + MEMORY_MARGIN
    if free is not None and free < need:
        return f"too little memory: {free >> 20} MiB available, the model needs about {need >> 20} MiB"
    return None
