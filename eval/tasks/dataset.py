"""The tasks of a batch run, one per dataset row: a row that is not a valid task becomes a TaskError for that
row alone (named by its instance id), so that the rest of the dataset still runs. A row that would reach outside
its run or loosen its sandbox (TaskRefused) refuses the whole dataset."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from codescale.agent.records import TASK_ID, Task
from codescale.eval.tasks import bundled, harbor
from codescale.eval.tasks.swebench import NAMESPACE, name_images
from codescale.eval.tasks.errors import TaskError, TaskRefused, TaskSourceError
from codescale.eval.tasks.load import FILE_SUFFIXES, read_dataset, read_records, read_text, suite_task, validate_record

Row = Task | TaskError


def load_rows(source: str, split: str = "test", base_image: str | None = None, namespace: str = NAMESPACE) -> list[Row]:
    """Every row of `source` (bundled suite name or task id, .json/.jsonl/.parquet file, Hugging Face dataset, a
    folder of Harbor task directories or one of them, the bundled Terminal-Bench-style suite's name)."""
    if harbor.is_source(source):
        path = harbor.SUITE_DIR if source == harbor.SUITE_NAME else Path(source)
        return [_row(lambda d=d: harbor.load_task_dir(d, base_image)) for d in harbor.task_dirs(path)]
    if source == bundled.SUITE_NAME or (bundled.SUITE_DIR / source / "task.yaml").is_file():
        names = bundled.suite_ids() if source == bundled.SUITE_NAME else [source]
        return [_row(lambda name=name: suite_task(name, base_image)) for name in names]
    if source.endswith(".jsonl") and Path(source).is_file():
        return _jsonl_rows(Path(source), namespace)
    if source.endswith(FILE_SUFFIXES):
        records = read_records(Path(source))
    elif Path(source).exists():
        raise TaskSourceError(f"{source}: a dataset file must end in {', '.join(FILE_SUFFIXES)}")
    else:
        records = read_dataset(source, split)
    records = name_images(records, namespace)
    return [_row(lambda r=record, i=index: validate_record(r, i)) for index, record in enumerate(records)]


def _jsonl_rows(path: Path, namespace: str) -> list[Row]:
    """Rows of a JSON-lines file; a line that is not JSON fails alone, named by the instance id it seems to hold."""
    rows: list[Row] = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            found = re.search(r'"instance_id"\s*:\s*"([^"]+)"', line)
            name = found.group(1) if found and TASK_ID.fullmatch(found.group(1)) else f"line {number}"
            rows.append(TaskError(name, "(row)", f"{path.name}:{number}: not valid JSON ({e.msg})"))
            continue
        if not isinstance(record, dict):
            rows.append(TaskError(f"line {number}", "(row)", f"{path.name}:{number}: not a JSON object"))
            continue
        rows.append(_row(lambda r=name_images([record], namespace)[0], i=len(rows): validate_record(r, i)))
    return rows


def _row(make) -> Row:
    try:
        return make()
    except TaskRefused:
        raise
    except TaskError as e:
        return e


def row_id(row: Row) -> str:
    return row.task if isinstance(row, TaskError) else row.instance_id


def select(rows: list[Row], slice_: str | None = None, ids: list[str] | None = None) -> list[Row]:
    """`slice_` ("START:STOP", Python slice of the rows) or `ids` (in the dataset's order); unknown ids are an error."""
    if slice_:
        try:
            start, _, stop = slice_.partition(":")
            rows = rows[slice(int(start) if start else None, int(stop) if stop else None)]
        except ValueError:
            raise TaskSourceError(f"--slice {slice_!r}: expected START:STOP, e.g. 0:50") from None
    if ids:
        known = {row_id(row) for row in rows}
        missing = [i for i in ids if i not in known]
        if missing:
            raise TaskSourceError(f"not in the dataset: {', '.join(missing)}")
        rows = [row for row in rows if row_id(row) in ids]
    duplicates = sorted(i for i, count in Counter(row_id(r) for r in rows).items() if count > 1)
    if duplicates:
        raise TaskSourceError(f"instance ids occur more than once in the dataset: {', '.join(duplicates)}")
    return rows
