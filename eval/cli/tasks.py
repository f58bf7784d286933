"""`codescale tasks list|show|build|base-image`: the bundled task suite and task files, their images."""

from __future__ import annotations

import time

import typer

from codescale.eval.cli.common import BaseImageOpt, command, examples, fail, say
from codescale.eval.tasks import bundled, images
from codescale.eval.tasks.load import load_tasks

tasks_app = typer.Typer(help="The bundled task suite and task files: list, show, build images.", no_args_is_help=True,
                        epilog=examples("codescale tasks list", "codescale tasks build --base-image codescale/base:bookworm"))


@tasks_app.command("list", epilog=examples("codescale tasks list", "codescale tasks list codescale-terminal"))
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


@tasks_app.command("show", epilog=examples("codescale tasks show codescale__thermo-1",
                                           "codescale tasks show calc-1 --tasks tasks.jsonl"))
@command
def show(
    instance_id: str = typer.Argument(..., help="Task id."),
    source: str = typer.Option(None, "--tasks", help="Suite name or task file holding it (default: bundled)."),
    base_image: BaseImageOpt = None,
):
    """Show one task: its issue, and its tests, image and harness fields, or (a Terminal-Bench task) its image,
    resources, network, capabilities and timeouts."""
    task = load_tasks(source, ids=[instance_id], base_image=base_image)[0]
    typer.echo("\n".join([f"instance_id: {task.instance_id}", *task.shown(),
                          f"problem_statement:\n{task.problem_statement.rstrip()}"]))


@tasks_app.command("build", epilog=examples("codescale tasks build --base-image codescale/base:bookworm",
                                            "codescale tasks build codescale__thermo-1 --workers 1"))
@command
def build_images(
    suite: str = typer.Argument(bundled.SUITE_NAME, help="Bundled suite name or task id, the Terminal-Bench-style "
                                "suite's name, or a folder of Harbor task directories."),
    base_image: BaseImageOpt = None,
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


@tasks_app.command("base-image", epilog=examples("codescale tasks base-image",
                                                 "codescale tasks base-image --tag my/base:bookworm"))
@command
def base_image(
    tag: str = typer.Option(images.LOCAL_BASE_IMAGE, "--tag", help="The image to make."),
):
    """Make the base image task images are built on where no registry answers (once per machine): python:3.11-slim
    with git and pytest where a registry answers, else a minimal Debian made with debootstrap (as root)."""
    from codescale.eval.tasks.base_image import BaseImageError, make_base_image

    try:
        make_base_image(tag, say)
    except BaseImageError as e:
        raise fail(str(e), 1) from None
    say(f"use it with --base-image {tag} (or CODESCALE_BASE_IMAGE={tag})")
