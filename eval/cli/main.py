"""The `codescale` app: every command registered, one line each; `--version`; and the last word on errors:
an unexpected exception prints one line naming a file that holds the full traceback."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer

from codescale.eval.cli import (batch, compare, demo, evaluate, export, fix_issue, models, plan, report, run, select,
                                 serve, tasks, view)

HELP = "Test-time scaling for coding agents: run rollouts in sandboxes, summarize, select with tournaments."
app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"codescale {version('codescale')}")
        except PackageNotFoundError:
            typer.echo("codescale (not installed: running from a source tree)")
        raise typer.Exit()


@app.callback()
def _root(
    _: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Test-time scaling for coding agents: run rollouts in sandboxes, summarize, select with tournaments."""


app.command("run")(run.run)
app.command("batch")(batch.batch_cmd)
app.command("swebench")(batch.swebench_cmd)
app.command("evaluate")(evaluate.evaluate)
app.command("compare")(compare.compare)
app.command("select")(select.select)
app.command("report")(report.report)
app.command("view")(view.view)
app.command("export")(export.export)
app.command("fix-issue")(fix_issue.fix_issue)
app.command("serve-local")(serve.serve_local)
app.command("demo")(demo.demo)
app.command("plan")(plan.plan)
app.command("models")(models.models)
app.add_typer(tasks.tasks_app, name="tasks")


def crash_report(error: BaseException) -> Path:
    """Write the traceback of an unexpected error to a file of its own; return its path."""
    folder = Path(os.environ.get("CODESCALE_LOG_DIR") or Path(tempfile.gettempdir()) / "codescale")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    path.write_text(f"codescale {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(error)))
    return path


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except Exception as e:  # a bug or an environment we did not foresee: one line, the details in a file
        where = crash_report(e)
        first = str(e).splitlines()[0] if str(e) else ""
        typer.echo(f"error: unexpected {type(e).__name__}: {first} (full traceback: {where})", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
