"""Loading tasks (a bundled suite name or task id, a .json/.jsonl/.parquet file, a Hugging Face dataset) and
the `codescale tasks` commands: list, show, build."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from agent.records import Task
from eval import bundled, images
from eval.eval_script import harness_fields
from eval.swebench import name_images
from eval.task_error import TaskError

FILE_SUFFIXES = (".json", ".jsonl", ".parquet")


def load_tasks(source: str | None = None, ids: list[str] | None = None, base_image: str | None = None,
               split: str = "test") -> list[Task]:
    """Tasks from `source` (default: the bundled suite), optionally only `ids`, each validated.

    Bundled tasks get their image tag for `base_image` (see images.base_image) and the swebench harness
    fields; records from a file or dataset get the harness fields they lack when they carry a test patch.
    """
    source = source or bundled.SUITE_NAME
    if source == bundled.SUITE_NAME or (bundled.SUITE_DIR / source / "task.yaml").is_file():
        names = bundled.suite_ids() if source == bundled.SUITE_NAME else [source]
        tasks = [suite_task(name, base_image) for name in names]
    elif source.endswith(FILE_SUFFIXES):
        tasks = [validate_record(record, index) for index, record in enumerate(read_records(Path(source)))]
    elif Path(source).exists():
        raise ValueError(f"{source}: a task file must end in {', '.join(FILE_SUFFIXES)}")
    else:
        tasks = [validate_record(record, index) for index, record in enumerate(read_dataset(source, split))]
    if ids:
        known = {task.instance_id for task in tasks}
        missing = [i for i in ids if i not in known]
        if missing:
            raise ValueError(f"not in {source}: {', '.join(missing)}")
        tasks = [task for task in tasks if task.instance_id in ids]
    return tasks


def suite_task(instance_id: str, base_image: str | None = None) -> Task:
    """One bundled task as a Task record, its image named for `base_image`."""
    task_dir = bundled.SUITE_DIR / instance_id
    try:
        meta = bundled.read_suite_task(task_dir)
    except ValidationError as e:
        error = e.errors()[0]
        raise TaskError(instance_id, ".".join(map(str, error["loc"])), error["msg"]) from None
    if meta.instance_id != instance_id:
        raise TaskError(instance_id, "instance_id", f"is {meta.instance_id!r} but the folder is {instance_id!r}")
    base = images.base_image(base_image)
    task = Task(
        instance_id=meta.instance_id, repo=meta.repo, problem_statement=meta.problem_statement,
        hints_text=meta.hints_text, version=meta.version, FAIL_TO_PASS=meta.FAIL_TO_PASS,
        PASS_TO_PASS=meta.PASS_TO_PASS, base_commit=bundled.commit_sha(bundled.repo_files(task_dir)),
        patch=(task_dir / "gold.patch").read_text(), test_patch=(task_dir / "test.patch").read_text(),
        image=images.suite_image(task_dir, base), workdir=images.WORKDIR, test_runner=meta.test_runner,
        difficulty=meta.difficulty, base_image=base,
    )
    return harness_fields(task)


def validate_record(record: dict[str, Any], index: int) -> Task:
    """A dataset row as a Task; TaskError names the row (its instance id, else its position) and the field."""
    name = str(record.get("instance_id") or f"#{index + 1}")
    try:
        task = Task.model_validate(record)
    except ValidationError as e:
        error = e.errors()[0]
        field = ".".join(map(str, error["loc"])) or "?"
        problem = "missing (required)" if error["type"] == "missing" else error["msg"]
        raise TaskError(name, field, problem) from None
    if task.test_patch and task.FAIL_TO_PASS:
        task = harness_fields(task)
    return task


def check_gradable(task: Task) -> None:
    """Raise TaskError naming the first field the swebench harness would need but `task` lacks."""
    if not task.FAIL_TO_PASS:
        raise TaskError(task.instance_id, "FAIL_TO_PASS", "empty: nothing would show that a patch resolves the task")
    if not task.image:
        raise TaskError(task.instance_id, "image", "no image given (the harness grades inside the task's image)")
    if not task.eval_script and not task.test_patch:
        raise TaskError(task.instance_id, "test_patch", "missing, and no eval_script given to run the tests")
    if task.workdir != images.WORKDIR:
        raise TaskError(task.instance_id, "workdir", f"is {task.workdir!r}; the harness applies patches in /testbed")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The rows of a .json (one record or a list), .jsonl or .parquet task file."""
    if not path.is_file():
        raise ValueError(f"task file {path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path).to_pylist()
    text = path.read_text()
    try:
        if path.suffix == ".jsonl":
            return [_json_line(path, number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    return data if isinstance(data, list) else [data]


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{number}: not valid JSON ({e.msg})") from None


def read_dataset(name: str, split: str) -> list[dict[str, Any]]:
    """The rows of a Hugging Face dataset split."""
    import datasets

    # SWE-bench's official prebuilt images, where the dataset names none
    return name_images([dict(row) for row in datasets.load_dataset(name, split=split)])


# -- `codescale tasks` --------------------------------------------------------------------------------------

tasks_app = typer.Typer(help="The bundled task suite and task files: list, show, build images.", no_args_is_help=True)


@tasks_app.command("list")
def list_cmd(source: str = typer.Argument(None, help="Suite name, task id or task file (default: bundled suite).")):
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
def show_cmd(
    instance_id: str = typer.Argument(..., help="Task id."),
    source: str = typer.Option(None, "--tasks", help="Suite name or task file holding it (default: bundled)."),
    base_image: str = typer.Option(None, "--base-image", help="Base image the bundled image tag is computed for."),
):
    """Show one task: its issue, tests, image and harness fields."""
    task = load_tasks(source, ids=[instance_id], base_image=base_image)[0]
    typer.echo(f"instance_id: {task.instance_id}\nrepo: {task.repo}\nbase_commit: {task.base_commit}")
    typer.echo(f"difficulty: {getattr(task, 'difficulty', '')}\nimage: {task.image}\nworkdir: {task.workdir}")
    typer.echo(f"test_runner: {task.test_runner}\nlog_parser: {task.log_parser}\neval_type: {task.eval_type}")
    typer.echo("FAIL_TO_PASS:\n" + "".join(f"  - {t}\n" for t in task.FAIL_TO_PASS).rstrip())
    typer.echo("PASS_TO_PASS:\n" + "".join(f"  - {t}\n" for t in task.PASS_TO_PASS).rstrip())
    typer.echo(f"problem_statement:\n{task.problem_statement.rstrip()}")


@tasks_app.command("build")
def build_cmd(
    suite: str = typer.Argument(bundled.SUITE_NAME, help="Bundled suite name or task id."),
    base_image: str = typer.Option(None, "--base-image", help="Base image (default: $CODESCALE_BASE_IMAGE or "
                                   f"{images.DEFAULT_BASE_IMAGE})."),
    workers: int = typer.Option(2, "--workers", help="Images built at a time."),
):
    """Build one image per bundled task (cached by a hash of the task's content)."""
    from concurrent.futures import ThreadPoolExecutor

    import docker

    names = bundled.suite_ids() if suite == bundled.SUITE_NAME else [suite]
    base = images.base_image(base_image)
    client = docker.from_env()
    started = time.monotonic()

    def build(name: str) -> str:
        t0 = time.monotonic()
        tag, built = images.build_suite_image(bundled.SUITE_DIR / name, base, client)
        return f"{'built ' if built else 'cached'} {tag} ({time.monotonic() - t0:.1f} s)"

    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            for line in pool.map(build, names):
                typer.echo(line)
    except TaskError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{len(names)} images on {base} in {time.monotonic() - started:.1f} s")
