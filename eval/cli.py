"""The `codescale` command line."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    help="Test-time scaling for coding agents: run rollouts in sandboxes, summarize, select with tournaments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Test-time scaling for coding agents: run rollouts in sandboxes, summarize, select with tournaments."""

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


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def exit_on_interrupt(run_id: str, *cleanups: Callable[[], object]) -> None:
    """From now on Ctrl-C and SIGTERM run `cleanups`, remove this run's sandboxes and leave at once.

    A KeyboardInterrupt would not do: the strategies' thread pools wait for the rollouts in flight on the way out.
    """

    def handler(*_) -> None:
        for cleanup in cleanups:
            try:
                cleanup()
            except Exception as e:  # keep going: the sandboxes must still be removed
                console.print(f"cleanup failed: {e}", highlight=False)
        interrupted(run_id)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def interrupted(run_id: str) -> None:
    """Ctrl-C / SIGTERM: remove this run's containers and leave at once (every file write is atomic)."""
    from sandboxes.docker import remove_containers

    console.print("\ninterrupted: removing this run's sandboxes", highlight=False)
    try:
        removed = remove_containers(run_id)
        console.print(f"removed {removed} container(s)", highlight=False)
    except Exception as e:  # no engine: nothing of ours can be running in it
        console.print(f"no containers removed ({e})", highlight=False)
    sys.stderr.flush()
    os._exit(130)


@app.command()
def run(
    task: Annotated[str, typer.Option("--task", help="A task file (JSON, one Task record) or a bundled task id.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    sandbox: SandboxOpt = None,
    strategy: StrategyOpt = None,
    config: ConfigOpt = [],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the results of an earlier run in --out.")] = False,
) -> None:
    """Solve one task: run the strategy's rollouts and write the run directory (run.yaml, results.jsonl, ...)."""
    from eval.config import ConfigError, load_config
    from eval.run import PreflightError, preflight, solve
    from eval.rundir import RunDir
    from eval.tasks import load_tasks

    try:
        tasks = load_tasks(task)
        if len(tasks) != 1:
            raise ConfigError(f"--task {task} holds {len(tasks)} tasks; `run` solves one (use `batch` for many)")
        the_task = tasks[0]
        resolved = load_config(
            config,
            {"model.id": model, "model.base_url": base_url, "sandbox.kind": sandbox, "scaling.strategy": strategy},
            strategy=strategy,
        )
        preflight(the_task, resolved)
    except (ValueError, PreflightError) as e:  # ConfigError and TaskError are ValueErrors
        raise fail(str(e)) from None
    run_dir = RunDir(out)
    if run_dir.results_path.exists() and not overwrite:
        raise fail(f"{out} already holds results; pass --overwrite to replace them")
    if overwrite:
        run_dir.clear()

    run_id = uuid.uuid4().hex[:12]
    run_dir.write_config(resolved.model_dump(mode="json"), run_id, command="run", task=task)
    exit_on_interrupt(run_id)
    start = time.monotonic()
    result = solve(the_task, resolved, run_dir, run_id)
    usage = result.usage.total
    cost = f"${usage.cost_usd:.4f}" if usage.cost_usd is not None else "unknown (no price for this model)"
    status = result.exit_statuses.get(result.final_rollout or "", result.status)
    console.print(
        f"{the_task.instance_id}: {status}; patch {len(result.final_patch.splitlines())} lines; "
        f"{usage.requests} requests, {usage.input_tokens} in / {usage.output_tokens} out tokens, cost {cost}; "
        f"{time.monotonic() - start:.1f} s\nrun directory: {out}",
        highlight=False,
    )
    if result.status == "error":
        raise fail(result.error, 1)


# Further commands live in their own modules and are registered here, one line each.
from eval.batch_cmd import batch_cmd, swebench_cmd  # noqa: E402
from eval.compare import compare_cmd  # noqa: E402
from eval.demo import demo_cmd  # noqa: E402
from eval.fix_issue import fix_issue_cmd  # noqa: E402
from eval.grading import evaluate_cmd  # noqa: E402
from eval.report import report_cmd  # noqa: E402
from eval.select import select_cmd  # noqa: E402
from eval.serve import serve_local_cmd  # noqa: E402
from eval.tasks import tasks_app  # noqa: E402

app.add_typer(tasks_app, name="tasks", help="The bundled task suite and task files: list, show, build images.")
app.command("evaluate")(evaluate_cmd)
app.command("fix-issue")(fix_issue_cmd)
app.command("batch")(batch_cmd)
app.command("swebench")(swebench_cmd)
app.command("compare")(compare_cmd)
app.command("select")(select_cmd)
app.command("report")(report_cmd)
app.command("serve-local")(serve_local_cmd)
app.command("demo")(demo_cmd)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
