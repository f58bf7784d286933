"""What every command shares: the options that carry the same name everywhere (`-v`/`-q` on every command), the
flag -> config key mapping, the examples its help ends with, and one way to report a user error (`error: ...` on
stderr, exit 2)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from codescale.eval.runs import logs
from codescale.eval.runs.config import flags
from codescale.eval.runs.terminal import plain, stderr

ConfigOpt = Annotated[
    list[str],
    typer.Option("-c", "--config", help="A YAML file or key.path=value override (repeatable; later wins)."),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", help="Model id BACKEND/NAME: openai/gpt-5-mini, anthropic/claude-sonnet-4-5, vllm/Qwen/..."),
]
BaseUrlOpt = Annotated[
    Optional[str], typer.Option("--base-url", help="Server URL for OpenAI-compatible servers (vLLM, llama.cpp).")
]
SandboxOpt = Annotated[
    Optional[str], typer.Option("--sandbox", help="docker (isolated) or local (a temp copy of a git repo; NOT isolated).")
]
StrategyOpt = Annotated[
    Optional[str], typer.Option("--strategy", help="single, best_of_n, rtv, pdr or pdr+rtv, or kim2026 (the paper's pdr+rtv); "
                                      "loads its preset from configs/strategies/.")
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace the results of an earlier run in --out.")]
LiveOpt = Annotated[
    Optional[bool],
    typer.Option("--live/--no-live", help="Live display (default: when stderr is a terminal) or one line per event."),
]
BaseImageOpt = Annotated[
    Optional[str],
    typer.Option("--base-image", help="Base image of built task images (default: $CODESCALE_BASE_IMAGE, else python:3.11-slim, or codescale/base:bookworm where only that one is present)."),
]
TrackOpt = Annotated[
    Optional[str],
    typer.Option("--track", help="Log the run to an experiment tracker when it ends: mlflow (the `track` extra; the "
                 "store is $MLFLOW_TRACKING_URI, else ./mlruns)."),
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Tasks in flight at once.")]
VerboseOpt = Annotated[int, typer.Option("-v", "--verbose", count=True, help="More on stderr: -v the log's INFO lines "
                                         "(each rollout's end, retries), -vv DEBUG.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Only errors on stderr (a run's codescale.log still "
                                        "keeps everything).")]
MaxCostOpt = Annotated[float, typer.Option(
    "--max-cost", help="USD cap on the whole run: once spent, no model request starts and the run stops, to be "
    "resumed by the same command with a higher cap (0: none; needs prices: `codescale models`).")]
MaxTaskCostOpt = Annotated[Optional[float], typer.Option(
    "--max-task-cost", help="USD cap per task (scaling.max_task_cost): once spent, the task makes no more model "
    "calls and ends with what it has.")]
RpmOpt = Annotated[int, typer.Option(
    "--rpm", help="Model requests per minute, evenly spaced, over every thread of this process (0: no limit).")]
TpmOpt = Annotated[int, typer.Option(
    "--tpm", help="Model tokens (input + output) per minute over every thread of this process (0: no limit).")]
RunDirArg = Annotated[Path, typer.Argument(help="A run directory (holds results.jsonl).", exists=True, file_okay=False)]

say = stderr
"""A line for the user, on stderr (stdout stays for what a script reads); the run's log keeps it too."""


def examples(*lines: str) -> str:
    """The end of a command's --help: one or two command lines a user can copy."""
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines)


def caps(max_cost: float = 0.0, rpm: int = 0, tpm: int = 0, max_tokens: int = 0) -> dict[str, Any]:
    """The run-wide caps and rates of a command's flags, as `budget` and `rates` settings (eval/runs/budget.py)."""
    from codescale.agent.models.rates import RateConfig
    from codescale.eval.runs.budget import BudgetConfig

    return {"budget": BudgetConfig(max_cost=max_cost, max_tokens=max_tokens), "rates": RateConfig(rpm=rpm, tpm=tpm)}


def stopped(reason: str) -> typer.Exit:
    """The last line of a run its cost cap stopped; exit 3 (work left: the same command with a higher cap resumes it)."""
    say(f"stopped: {reason}; nothing more was asked of the model. Run the same command with a higher --max-cost to "
        "continue (finished rollouts are reused).")
    return typer.Exit(3)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` on stderr (-q too); raise the returned Exit. Code 2: the user's input was wrong."""
    typer.echo(f"error: {plain(message)}", err=True)
    logs.SHOWN.error(plain(message))
    return typer.Exit(code)


def check_tracker(tracker: str | None) -> None:
    """--track's value checked (a known tracker, its extra installed) before the command runs anything."""
    from codescale.eval.analysis.tracking import check_tracker as check

    check(tracker)


def track_run(run_dir: Path, tracker: str | None) -> None:
    """The run logged to the tracker --track named (nothing without it)."""
    if tracker:
        from codescale.eval.analysis.tracking import TrackingError, track

        try:
            say(f"tracked in {tracker}: run {track(run_dir, tracker)}")
        except TrackingError as e:
            raise fail(f"{e} (the run itself is in {run_dir})", 1) from None


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input: config, task or task source, run directory, saved records, model id, server,
    an optional extra that the command needs but is not installed, the user's model catalog, a record's id that
    would name a path."""
    from codescale.agent.files import UnsafeName
    from codescale.eval.runs.rundir import RecordError
    from codescale.eval.runs.config import ConfigError
    from codescale.eval.runs.resume import ResumeError
    from codescale.eval.runs.opening import PreflightError
    from codescale.eval.tasks.errors import TaskError, TaskSourceError
    from codescale.eval.tasks.extras import MissingExtraError
    from codescale.agent.models.catalog import CatalogError

    return (ConfigError, TaskError, TaskSourceError, ResumeError, RecordError, PreflightError, MissingExtraError,
            CatalogError, UnsafeName)


def command(function: Callable) -> Callable:
    """A command that takes `-v`/`-q` (its logging set up from them before it runs) and whose user errors end as
    one `error:` line and exit 2 (every command is wrapped in it)."""

    @functools.wraps(function)
    def wrapper(*args, verbose: int = 0, quiet: bool = False, **kwargs):
        logs.configure(-1 if quiet else verbose)
        try:
            return function(*args, **kwargs)
        except user_errors() as e:
            raise fail(str(e)) from None

    signature = inspect.signature(function, eval_str=True)
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, default, annotation in (("verbose", 0, VerboseOpt), ("quiet", False, QuietOpt))]
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *shared])
    wrapper.__annotations__ = {**function.__annotations__, "verbose": VerboseOpt, "quiet": QuietOpt}
    return wrapper
