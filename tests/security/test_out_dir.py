"""`--out` is codescale's or empty: a directory that holds something else is refused (with or without --overwrite),
`--overwrite` removes only what an earlier run wrote, and an `--out` through a file is one error line."""

from __future__ import annotations

import pytest
from fake_server import FakeServer
from test_agent import FIX, script

from security_cli import batch_args, codescale, lines, local_task, local_tasks, one_error_line, run_args, tree

SOMEONE_ELSES = {
    "run.yaml": "apiVersion: v1\nkind: Pod\n",
    "preds.jsonl": '{"mine": true}\n',
    "usage.jsonl": '{"mine": true}\n',
    "tasks/notes.md": "my notes\n",
}


def contents(root) -> dict[str, str]:
    return {path: (root / path).read_text() for path in sorted(tree(root)) if (root / path).is_file()}


@pytest.mark.parametrize("overwrite", [(), ("--overwrite",)], ids=["plain", "overwrite"])
def test_a_directory_that_is_not_a_run_is_refused(overwrite, tmp_path):
    task, out = local_task(tmp_path / "t"), tmp_path / "project"
    for name, text in SOMEONE_ELSES.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        done = codescale(*run_args(task, server, out, *overwrite))
    assert "holds files but no codescale run" in one_error_line(done)
    assert contents(out) == SOMEONE_ELSES


def test_overwrite_removes_only_what_the_earlier_run_wrote(tmp_path):
    tasks, out = local_tasks(tmp_path / "t", "calc-1"), tmp_path / "run"
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        assert codescale(*batch_args(tasks, server, out)).returncode == 0
        (out / "NOTES.md").write_text("what I saw\n")
        (out / "tasks" / "my-analysis").mkdir()
        (out / "tasks" / "my-analysis" / "plot.py").write_text("print(1)\n")
        (out / "eval.jsonl").write_text('{"instance_id": "calc-1", "resolved": true}\n')  # grades of the old answers
        again = codescale(*batch_args(tasks, server, out, "--overwrite"))
    assert again.returncode == 0, again.stderr
    assert (out / "NOTES.md").read_text() == "what I saw\n"
    assert (out / "tasks" / "my-analysis" / "plot.py").read_text() == "print(1)\n"
    assert not (out / "eval.jsonl").exists()
    assert [r["instance_id"] for r in lines(out / "results.jsonl")] == ["calc-1"]


@pytest.mark.parametrize("command", ["run", "batch"])
def test_an_out_through_a_file_is_one_error_line(command, tmp_path):
    (tmp_path / "afile").write_text("not a directory\n")
    task = local_tasks(tmp_path / "t", "calc-1") if command == "batch" else local_task(tmp_path / "t")
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        args = batch_args if command == "batch" else run_args
        done = codescale(*args(task, server, tmp_path / "afile" / "run"))
    assert f"{tmp_path / 'afile'} is a file, not a directory" in one_error_line(done)
    assert (tmp_path / "afile").read_text() == "not a directory\n"
