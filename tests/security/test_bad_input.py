"""Input that is not what it should be gets one `error:` line and exit 2, without a traceback and without writing
anything; a resume cuts an unreadable last line instead of writing after it."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from conftest import CALC_FILES, make_repo
from fake_server import FakeServer
from test_agent import FIX, script

from security_cli import batch_args, codescale, lines, local_tasks, one_error_line, tree

BINARY = bytes(range(256)) * 4
"""Bytes that are no text in any UTF: every byte value, including invalid starts and NUL."""
DATA = Path(__file__).resolve().parent.parent / "data" / "terminal_bench_2" / "hello-world"


@pytest.mark.parametrize("content, found", [("42", "found 42"), ("null", "found null"), ("[[1, 2]]", "found [1, 2]"),
                                            ('"a task"', 'found "a task"')])
def test_a_task_file_that_holds_no_task_record(content, found, tmp_path):
    task = tmp_path / "task.json"
    task.write_text(content)
    line = one_error_line(codescale("run", "--task", str(task), "--model", "openai/fake", "--out", str(tmp_path / "o")))
    assert "task.json: a task file holds a task record (a JSON object) or a list of them" in line and found in line
    assert tree(tmp_path) == {"task.json"}


def test_a_binary_instruction_md(tmp_path):
    task = tmp_path / "hello-world"
    shutil.copytree(DATA, task)
    (task / "instruction.md").write_bytes(BINARY)
    line = one_error_line(codescale("run", "--task", str(task), "--model", "openai/fake", "--out", str(tmp_path / "o")))
    assert "task hello-world: field 'instruction.md': not UTF-8 text" in line
    assert not (tmp_path / "o").exists()


def test_a_binary_issue_file(tmp_path):
    repo, _ = make_repo(tmp_path / "calc", CALC_FILES)
    issue = tmp_path / "issue.md"
    issue.write_bytes(BINARY)
    done = codescale("fix-issue", "--repo", str(repo), "--issue", str(issue), "--model", "openai/fake", "--out",
                     str(tmp_path / "o"))
    assert f"issue file {issue} is not UTF-8 text" in one_error_line(done)
    assert not (tmp_path / "o").exists()


def test_a_binary_results_jsonl(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_bytes(BINARY)
    line = one_error_line(codescale("report", str(run), "-o", str(tmp_path / "report.html")))
    assert f"{run / 'results.jsonl'}:1: not a JSON record line" in line
    assert tree(tmp_path) == {"run", "run/results.jsonl"}


def test_an_unknown_task_id_without_a_hub_says_what_it_tried_within_seconds(tmp_path):
    with socket.socket() as closed:  # a loopback port nothing listens on: the hub of a machine without one
        closed.bind(("127.0.0.1", 0))
        hub = f"http://127.0.0.1:{closed.getsockname()[1]}"
    start = time.monotonic()
    done = codescale("run", "--task", "codescale__nosuch-1", "--model", "openai/fake", "--out", str(tmp_path / "o"),
                     env={"HF_ENDPOINT": hub, "HF_HUB_OFFLINE": "", "HF_DATASETS_OFFLINE": ""})
    seconds = time.monotonic() - start
    line = one_error_line(done)
    assert "'codescale__nosuch-1' is not a bundled task or suite (codescale tasks list), not a file or folder here" in line
    assert f"not a dataset: the Hugging Face hub at {hub} cannot be reached" in line
    assert seconds < 10 and not (tmp_path / "o").exists()


def test_a_resume_cuts_a_garbage_last_line(tmp_path):
    tasks, out = local_tasks(tmp_path / "t", "calc-1", "calc-2"), tmp_path / "run"
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        assert codescale(*batch_args(tasks, server, out, "--ids", "calc-1")).returncode == 0
        with (out / "results.jsonl").open("a") as f:
            f.write("garbage that is no record\n")  # a complete line, newline and all
        second = codescale(*batch_args(tasks, server, out))
        third = codescale(*batch_args(tasks, server, out))
    assert second.returncode == 0 and third.returncode == 0, second.stderr + third.stderr
    assert "2 finished earlier, 0 to run" in third.stderr
    assert [r["instance_id"] for r in lines(out / "results.jsonl")] == ["calc-1", "calc-2"]
