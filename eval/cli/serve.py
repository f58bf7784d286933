"""`codescale serve-local`: run the local model server in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import command, examples, fail, say

EXAMPLES = examples(
    "codescale serve-local",
    "codescale serve-local --model smollm2-135m --port 8080",
)


@command
def serve_local(
    model: Annotated[
        Optional[str], typer.Option("--model", help="Row of configs/local.yaml (default: its `default`), or local/<name>.")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for generation; 0: one less than the cores (at least 1).")] = 0,
) -> None:
    """Serve a local model (the `local` extra) on loopback with an OpenAI-compatible API; prints the base URL."""
    from codescale.agent.models.local.package import ModelPackageError, default_local_model
    from codescale.agent.models.local.server import LocalServer, LocalServerError

    name = (model or default_local_model()).removeprefix("local/")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        say(f"starting {name} (joining and checking the model file on first use) ...")
        with LocalServer(name, port=port, threads=threads) as server:
            say(
                f"serving local/{name} at {server.base_url} (pid {server.pid}); Ctrl-C stops it\n"
                f"  use: codescale run --model local/{name} --base-url {server.base_url} ..."
            )
            print(server.base_url, flush=True)
            while not stop.wait(0.5):
                if server.process.poll() is not None:
                    raise server.died()
        say("stopped")
    except (ModelPackageError, LocalServerError) as e:
        raise fail(str(e), 1) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
