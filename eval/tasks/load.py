"""Loading tasks (a bundled suite name or task id, a .json/.jsonl/.parquet file, a Hugging Face dataset) and
the `codescale tasks` commands: list, show, build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from codescale.eval.tasks import bundled, harbor, hub, images
from codescale.eval.tasks.errors import TaskError, TaskSourceError
from codescale.eval.tasks.eval_script import harness_fields
from codescale.eval.tasks.extras import require
from codescale.eval.tasks.kinds import TaskKind, as_kind
from codescale.eval.tasks.kinds.patch import PatchTask
from codescale.eval.tasks.swebench import name_images

FILE_SUFFIXES = (".json", ".jsonl", ".parquet")


def load_tasks(source: str | None = None, ids: list[str] | None = None, base_image: str | None = None,
               split: str = "test") -> list[TaskKind]:
    """Tasks from `source` (default: the bundled suite), optionally only `ids`, each validated.

    A folder of Harbor task directories (Terminal-Bench 2), one such directory, or the bundled Terminal-Bench-style
    suite's name gives tasks whose outcome is their container (eval/tasks/harbor.py).

    Bundled tasks get their image tag for `base_image` (see images.base_image) and the swebench harness
    fields; records from a file or dataset get the harness fields they lack when they carry a test patch.
    """
    source = source or bundled.SUITE_NAME
    if harbor.is_source(source):
        tasks = harbor.load_source(source, base_image)
    elif source == bundled.SUITE_NAME or (bundled.SUITE_DIR / source / "task.yaml").is_file():
        names = bundled.suite_ids() if source == bundled.SUITE_NAME else [source]
        tasks = [suite_task(name, base_image) for name in names]
    elif source.endswith(FILE_SUFFIXES):
        tasks = [validate_record(record, index) for index, record in enumerate(read_records(Path(source)))]
    elif Path(source).exists():
        raise TaskSourceError(f"{source}: a task file must end in {', '.join(FILE_SUFFIXES)}")
    else:
        tasks = [validate_record(record, index) for index, record in enumerate(read_dataset(source, split))]
    if ids:
        known = {task.instance_id for task in tasks}
        missing = [i for i in ids if i not in known]
        if missing:
            raise TaskSourceError(f"not in {source}: {', '.join(missing)}")
        tasks = [task for task in tasks if task.instance_id in ids]
    return tasks


def suite_task(instance_id: str, base_image: str | None = None) -> PatchTask:
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
    task = PatchTask(
        instance_id=meta.instance_id, repo=meta.repo, problem_statement=meta.problem_statement,
        hints_text=meta.hints_text, version=meta.version, FAIL_TO_PASS=meta.FAIL_TO_PASS,
        PASS_TO_PASS=meta.PASS_TO_PASS, base_commit=bundled.commit_sha(bundled.repo_files(task_dir)),
        patch=(task_dir / "gold.patch").read_text(), test_patch=(task_dir / "test.patch").read_text(),
        image=images.suite_image(task_dir, base), workdir=images.WORKDIR, test_runner=meta.test_runner,
        difficulty=meta.difficulty, base_image=base,
    )
    return harness_fields(task)


def validate_record(record: dict[str, Any], index: int) -> TaskKind:
    """A dataset row as a task of its kind; TaskError names the row (its instance id, else its position) and the
    field."""
    task = as_kind(record, f"#{index + 1}")
    if task.test_patch and task.FAIL_TO_PASS:
        task = harness_fields(task)
    return task


def read_records(path: Path) -> list[dict[str, Any]]:
    """The rows of a .json (one record or a list), .jsonl or .parquet task file."""
    if not path.is_file():
        raise TaskSourceError(f"task file {path} does not exist")
    if path.suffix == ".parquet":
        require("pyarrow", "datasets", f"reading {path}")
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path).to_pylist()
    text = read_text(path)
    try:
        if path.suffix == ".jsonl":
            rows = [_json_line(path, number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        else:
            data = json.loads(text)
            rows = data if isinstance(data, list) else [data]
    except json.JSONDecodeError as e:
        raise TaskSourceError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    if not all(isinstance(row, dict) for row in rows):
        found = next(json.dumps(row)[:40] for row in rows if not isinstance(row, dict))
        raise TaskSourceError(f"{path}: a task file holds a task record (a JSON object) or a list of them; "
                              f"found {found}")
    return rows


def read_text(path: Path) -> str:
    """A task file's text; TaskSourceError when it is not UTF-8 text."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise TaskSourceError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise TaskSourceError(f"{path}:{number}: not valid JSON ({e.msg})") from None


def read_dataset(name: str, split: str) -> list[dict[str, Any]]:
    """The rows of a Hugging Face dataset split. TaskSourceError (one line, saying what `name` was tried as) when it
    is not a bundled task or suite, not a file or folder here, and no dataset could be loaded."""
    tried = f"{name!r} is not a bundled task or suite (codescale tasks list), not a file or folder here"
    if reason := hub.unreachable():
        raise TaskSourceError(f"{tried}, and not a dataset: {reason} (HF_HUB_OFFLINE=1 uses a cached copy)")
    require("datasets", "datasets", f"the Hugging Face dataset {name}")
    import datasets

    try:
        rows = [dict(row) for row in datasets.load_dataset(name, split=split)]
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as e:  # no such dataset or split, no local copy
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise TaskSourceError(f"{tried}, and the dataset (split {split!r}) could not be loaded: {first}") from None
    return name_images(rows)  # SWE-bench's official prebuilt images, where the dataset names none


# -- `codescale tasks` --------------------------------------------------------------------------------------
