"""What every command shares: the options that carry the same name everywhere, the flag -> config key mapping,
and one way to report a user error (`error: ...` on stderr, exit 2)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from codescale.eval.runs.terminal import plain

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
    Optional[str], typer.Option("--strategy", help="single, best_of_n, rtv, pdr or pdr+rtv (loads its preset).")
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

FLAG_KEYS = {"model": "model.id", "base_url": "model.base_url", "sandbox": "sandbox.kind", "strategy": "scaling.strategy",
             "ray": "cluster.address", "max_task_cost": "scaling.max_task_cost"}
"""CLI flag -> the config key it sets. The one place this mapping is written."""


def flags(**given: Any) -> dict[str, Any]:
    """The config keys of the flags a command took (None: not given, so the config decides)."""
    unknown = set(given) - set(FLAG_KEYS)
    if unknown:
        raise TypeError(f"no config key for flag(s) {sorted(unknown)}")
    return {FLAG_KEYS[name]: value for name, value in given.items()}


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


def say(message: str) -> None:
    """A line for the user, on stderr (stdout stays for what a script reads)."""
    typer.echo(plain(message), err=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` on stderr; raise the returned Exit. Code 2: the user's input was wrong."""
    typer.echo(f"error: {plain(message)}", err=True)
    return typer.Exit(code)


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
    """A command whose user errors end as one `error:` line and exit 2 (every command is wrapped in it)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except user_errors() as e:
            raise fail(str(e)) from None

    return wrapper
