"""`codescale view RUN_DIR`: the run in a web viewer on 127.0.0.1, or written as static files (`--static DIR`)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import command, fail, say

STATIC_FILES = {"index.html", "dom.js", "bracket.js", "viewer.js", "viewer.css", "data"}
"""What a static copy holds: a folder with only these may be written over."""


@command
def view(
    run: Annotated[Path, typer.Argument(help="A run directory, finished or still running.", file_okay=False)],
    static: Annotated[Optional[Path], typer.Option("--static", help="Write the viewer and all its data into this "
                                                   "folder (opens from the file system) instead of serving.")] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1; 0 picks a free one.")] = 8765,
) -> None:
    """Look at a run: tasks, rollouts by generation, tournament brackets, refinement contexts, steps and messages."""
    from codescale.eval.analysis.viewer import make_server, write_static
    from codescale.eval.runs.rundir import RunDir

    run_dir = RunDir.begun(run)
    if static is not None:
        if static.resolve().is_relative_to(run.resolve()):
            raise fail(f"{static}: inside the run directory; write the static copy into a folder of its own")
        if static.exists() and (not static.is_dir() or {p.name for p in static.iterdir()} - STATIC_FILES):
            raise fail(f"{static}: exists and is not an earlier static copy of the viewer; name a new folder")
        shutil.rmtree(static / "data", ignore_errors=True)
        written = write_static(run_dir, static, say)
        typer.echo(f"wrote {written} files; open {(static / 'index.html').resolve().as_uri()}")
        return
    try:
        server = make_server(run_dir, port)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise fail(f"port {port} on 127.0.0.1 is in use; pass another --port (0: any free one)") from None
        raise
    say(f"viewing {run} at the address below (only this machine can reach it); Ctrl-C stops")
    typer.echo(f"http://127.0.0.1:{server.server_address[1]}/", nl=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        server.server_close()
