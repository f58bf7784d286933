"""Task ids are names, not paths: an id that would lead out of the run directory is refused when the task is loaded, and
a run directory whose records hold one (edited by hand, or made by an earlier version) makes `select` refuse, not
delete a file elsewhere."""

from __future__ import annotations

import json
import shutil

import pytest
from fake_server import FakeServer
from test_agent import FIX, script

from security_cli import codescale, lines, local_task, one_error_line, run_args, tree


@pytest.mark.parametrize("hostile", ["../../../escaped", "/ABSOLUTE/escaped"])
def test_a_task_id_that_is_a_path_is_refused_at_load(hostile, tmp_path):
    out = tmp_path / "a" / "b" / "run"
    instance_id = hostile.replace("/ABSOLUTE", str(tmp_path / "abs"))
    task = local_task(tmp_path, instance_id)
    before = tree(tmp_path)
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        done = codescale(*run_args(task, server, out))
    line = one_error_line(done)
    assert f"task {instance_id}: field 'instance_id'" in line and "not a task name" in line
    assert tree(tmp_path) == before and server.requests == []


def test_select_refuses_a_run_whose_task_id_leads_elsewhere_and_deletes_nothing(tmp_path):
    task, old = local_task(tmp_path / "t"), tmp_path / "old"
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        assert codescale(*run_args(task, server, old)).returncode == 0
    # the run as a hand-edited (or earlier codescale's) record would leave it: the task's id is a path
    hostile = "../../shared"
    results = lines(old / "results.jsonl")
    (old / "results.jsonl").write_text("".join(json.dumps({**r, "instance_id": hostile}) + "\n" for r in results))
    shutil.move(old / "tasks" / "calc-1", tmp_path / "shared")  # old/tasks/../../shared
    victim = tmp_path / "sel" / "shared" / "task.json"  # where new/tasks/../../shared leads
    victim.parent.mkdir(parents=True)
    victim.write_text("a file of someone else\n")
    before = tree(tmp_path)
    done = codescale("select", str(old), "--strategy", "best_of_n", "--out", str(tmp_path / "sel" / "new"))
    assert victim.read_text() == "a file of someone else\n"
    assert "../../shared" in one_error_line(done) and "not a plain name" in done.stderr
    assert {p for p in tree(tmp_path) - before if not p.startswith("sel/new")} == set()
