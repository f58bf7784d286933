"""The `codescale` app: every command registered, one line each, with the examples its help ends with; `--version`;
shell completion (`codescale --install-completion`); and the last word on errors: an unexpected exception prints one
line naming a file that holds the full traceback."""

from __future__ import annotations

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
from codescale.eval.cli.common import examples

HELP = "Test-time scaling for coding agents: run rollouts in sandboxes, summarize, select with tournaments."
app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False, epilog=examples(
    "codescale demo", "codescale run --task codescale__thermo-1 --model anthropic/claude-sonnet-4-5 --out runs/one"))


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


app.command("run", epilog=run.EXAMPLES)(run.run)
app.command("batch", epilog=batch.BATCH_EXAMPLES)(batch.batch_cmd)
app.command("swebench", epilog=batch.SWEBENCH_EXAMPLES)(batch.swebench_cmd)
app.command("evaluate", epilog=evaluate.EXAMPLES)(evaluate.evaluate)
app.command("compare", epilog=compare.EXAMPLES)(compare.compare)
app.command("select", epilog=select.EXAMPLES)(select.select)
app.command("report", epilog=report.EXAMPLES)(report.report)
app.command("view", epilog=view.EXAMPLES)(view.view)
app.command("export", epilog=export.EXAMPLES)(export.export)
app.command("fix-issue", epilog=fix_issue.EXAMPLES)(fix_issue.fix_issue)
app.command("serve-local", epilog=serve.EXAMPLES)(serve.serve_local)
app.command("demo", epilog=demo.EXAMPLES)(demo.demo)
app.command("plan", epilog=plan.EXAMPLES)(plan.plan)
app.command("models", epilog=models.EXAMPLES)(models.models)
app.add_typer(tasks.tasks_app, name="tasks")


def crash_report(error: BaseException) -> Path:
    """Write the traceback of an unexpected error to a file of its own; return its path."""
    folder = Path(os.environ.get("CODESCALE_LOG_DIR") or Path(tempfile.gettempdir()) / "codescale")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    path.write_text(f"codescale {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(error)))
    return path


def main() -> None:
    from codescale.eval.runs import logs

    logs.configure(0)  # until a command sets it from its -v/-q
    try:
        app()
    except Exception as e:  # a bug or an environment we did not foresee: one line, the details in a file
        where = crash_report(e)
        first = str(e).splitlines()[0] if str(e) else ""
        typer.echo(f"error: unexpected {type(e).__name__}: {first} (full traceback: {where})", err=True)
        logs.SHOWN.error("unexpected %s (full traceback: %s)", type(e).__name__, where, exc_info=e)
        sys.exit(1)


if __name__ == "__main__":
    main()
