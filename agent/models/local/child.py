"""The local model server's child process: llama.cpp's server, leaving as soon as its parent is gone.

Run as `python -m codescale.agent.models.local.child [--codescale-no-extra-buffers] <llama_cpp.server flags>`
by agent/models/local/server.py; it exits when its stdin (a pipe from the parent) reaches end-of-file.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

NO_EXTRA_BUFFERS = "--codescale-no-extra-buffers"
"""First argument of the child: load weights into plain CPU buffers (see the module's docstring)."""


def plain_cpu_buffers() -> None:
    """Make every model load in this process use plain CPU buffers. llama-cpp-python does not expose
    llama_model_params.use_extra_bufts; llama.cpp reads it in make_cpu_buft_list (src/llama-model.cpp),
    adding the CPU device's extra buffer types (AMX, CPU_REPACK) only when it is true. `Llama` builds its
    parameters from llama_model_default_params() at load time, so the default is changed there."""
    import llama_cpp.llama_cpp as bindings

    defaults = bindings.llama_model_default_params

    def plain():
        params = defaults()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = plain


def _exit_with_parent() -> None:
    """In the child: leave at once when the parent's end of stdin closes (the parent is gone)."""
    sys.stdin.buffer.read()
    os._exit(0)


def _serve() -> None:
    """The child's main: watch stdin, then run llama.cpp's server with our argv."""
    import runpy

    threading.Thread(target=_exit_with_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    args = sys.argv[1:]
    if args[:1] == [NO_EXTRA_BUFFERS]:
        plain_cpu_buffers()
        args = args[1:]
    sys.argv = ["llama_cpp.server", *args]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _serve()
