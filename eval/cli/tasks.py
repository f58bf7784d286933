"""`codescale tasks list|show|build`: the bundled task suite and task files."""

from __future__ import annotations

import time

import typer

from codescale.eval.cli.common import command
from codescale.eval.tasks import bundled, images
from codescale.eval.tasks.load import load_tasks

tasks_app = typer.Typer(help="The bundled task suite and task files: list, show, build images.", no_args_is_help=True)


@tasks_app.command("list")
@command
def list_tasks(source: str = typer.Argument(None, help="Suite name, task id or task file (default: bundled suite).")):
    """List tasks: id, difficulty, test runner, number of FAIL_TO_PASS tests, first line of the issue."""
    from rich.console import Console
    from rich.table import Table

    table = Table("instance id", "difficulty", "runner", "F2P", "issue")
    for task in load_tasks(source):
        title = task.problem_statement.strip().splitlines()[0][:70]
        table.add_row(task.instance_id, str(getattr(task, "difficulty", "")), task.test_runner,
                      str(len(task.FAIL_TO_PASS)), title)
    Console().print(table)


@tasks_app.command("show")
@command
def show(
    instance_id: str = typer.Argument(..., help="Task id."),
    source: str = typer.Option(None, "--tasks", help="Suite name or task file holding it (default: bundled)."),
    base_image: str = typer.Option(None, "--base-image", help="Base image the bundled image tag is computed for."),
):
    """Show one task: its issue, and its tests, image and harness fields, or (a Terminal-Bench task) its image,
    resources, network, capabilities and timeouts."""
    task = load_tasks(source, ids=[instance_id], base_image=base_image)[0]
    typer.echo("\n".join([f"instance_id: {task.instance_id}", *task.shown(),
                          f"problem_statement:\n{task.problem_statement.rstrip()}"]))


@tasks_app.command("build")
@command
def build_images(
    suite: str = typer.Argument(bundled.SUITE_NAME, help="Bundled suite name or task id, the Terminal-Bench-style "
                                "suite's name, or a folder of Harbor task directories."),
    base_image: str = typer.Option(None, "--base-image", help="Base image (default: $CODESCALE_BASE_IMAGE or "
                                   f"{images.DEFAULT_BASE_IMAGE})."),
    workers: int = typer.Option(2, "--workers", help="Images built at a time."),
):
    """Build one image per bundled task or Terminal-Bench task (cached by a hash of the task's content)."""
    from concurrent.futures import ThreadPoolExecutor

    import docker

    from codescale.eval.tasks.kinds import ensure_image

    client = docker.from_env()
    started = time.monotonic()
    found = load_tasks(suite, base_image=base_image)

    def build(task) -> str:
        t0 = time.monotonic()
        made = ensure_image(task, client)
        return f"{'built ' if made else 'cached'} {task.image} ({time.monotonic() - t0:.1f} s)"

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for line in pool.map(build, found):
            typer.echo(line)
    typer.echo(f"{len(found)} images in {time.monotonic() - started:.1f} s")
