"""What a run says while it runs: `run` shows the batch's progress, every run writes RUN/codescale.log at INFO (the
run's lines, each rollout's end, model retries), -q leaves only errors on stderr, -v adds the log's INFO lines."""

from __future__ import annotations


import pytest
from fake_server import FakeServer
from test_agent import FIX, script
from test_cli import codescale



def run(server: FakeServer, task_file, out, *args: str):
    return codescale("run", "--task", str(task_file), "--model", "openai/fake", "--base-url", server.openai_url,
                     "--sandbox", "local", "--out", str(out), "-c", "model.retries.min_wait=0.01", *args)


def test_run_shows_the_batch_progress_and_writes_its_log(calc_task_file, tmp_path):
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        server.faults.append(("status", 500))
        done = run(server, calc_task_file, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    progress = [line.split("] ", 1)[1] for line in done.stderr.splitlines() if line.startswith("[0:")]
    assert len(progress) == 2, done.stderr  # as `batch` shows them when stderr is not a terminal
    assert progress[0].startswith("start calc-1 | 0/1 tasks (0 failed, 1 running) | rollouts 0 running")
    assert progress[1].startswith("done calc-1: submitted, patch 11 lines, ")
    assert "| 1/1 tasks (0 failed, 0 running) | rollouts 0 running, 1 done, 0 reused |" in progress[1]
    log = (tmp_path / "run" / "codescale.log").read_text()
    assert "INFO codescale.eval.runs.opening: run: run " in log
    assert "INFO codescale.shown: start calc-1 | 0/1 tasks" in log
    assert "WARNING codescale.agent.models.base: model call failed (openai/fake: HTTP 500" in log
    assert "INFO codescale.agent.rollout: rollout calc-1/g0-r0: submitted after 2 steps" in log
    assert "INFO codescale.shown: done calc-1: submitted" in log
    assert "INFO codescale.shown: calc-1: submitted; patch 11 lines" in log
    assert "httpx" not in log  # a library's own INFO lines (one per request) stay out


def test_quiet_leaves_only_errors_on_stderr_and_the_log_keeps_everything(calc_task_file, tmp_path):
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        done = run(server, calc_task_file, tmp_path / "run", "-q")
        assert done.returncode == 0 and done.stderr == ""
        again = run(server, calc_task_file, tmp_path / "run", "-q")  # the run is there already: a user error
    assert again.returncode == 2 and again.stderr.splitlines() == [
        f"error: {tmp_path / 'run'} already holds results; pass --overwrite to replace them"]
    log = (tmp_path / "run" / "codescale.log").read_text()
    assert "codescale.shown: done calc-1: submitted" in log and "rollout calc-1/g0-r0: submitted" in log


def test_verbose_adds_the_logs_info_lines(calc_task_file, tmp_path):
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        done = run(server, calc_task_file, tmp_path / "run", "-v")
    assert done.returncode == 0, done.stderr
    assert "INFO codescale.agent.rollout: rollout calc-1/g0-r0: submitted after 2 steps" in done.stderr
    assert "codescale.shown" not in done.stderr  # the lines shown anyway are not shown twice
    assert done.stderr.count("start calc-1") == 1
