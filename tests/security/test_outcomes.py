"""A run that failed says so: against a model server that only rate-limits, `run` and `batch` exit non-zero and their
last line counts the failures by cause; rerunning the command retries the failed tasks (bounded, or not at all with
--keep-errors); preds.jsonl holds one line per task at every moment."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter

from test_agent import FIX, script

from security_cli import (FAST_RETRIES, SUBMIT, RateLimited, batch_args, codescale, last_line, lines, local_task,
                          local_tasks)


def test_a_batch_whose_every_call_is_rate_limited_fails_and_counts_the_failures(tmp_path):
    tasks, out = local_tasks(tmp_path, "calc-1", "calc-2"), tmp_path / "run"
    with RateLimited() as server:
        done = codescale(*batch_args(tasks, server, out, *FAST_RETRIES))
    assert done.returncode == 1, done.stderr
    assert last_line(done).startswith("2 tasks: 2 failed (2 model_error); spent "), done.stderr
    assert {r["instance_id"]: r["status"] for r in lines(out / "results.jsonl")} == {"calc-1": "error", "calc-2": "error"}


def test_run_exits_non_zero_when_every_rollout_ended_in_a_model_error(tmp_path):
    task, out = local_task(tmp_path), tmp_path / "run"
    with RateLimited() as server:
        done = codescale("run", "--task", str(task), "--model", "openai/fake", "--base-url", server.openai_url,
                         "--sandbox", "local", "--out", str(out), *FAST_RETRIES)
    assert done.returncode == 1, done.stderr
    assert "error: every rollout ended in an infrastructure error (1 model_error)" in done.stderr
    assert last_line(done) == "1 task: 1 failed (1 model_error)"


def test_rerunning_the_command_retries_a_failed_task_until_it_ran_three_times(tmp_path):
    tasks, out = local_tasks(tmp_path, "calc-1"), tmp_path / "run"
    with RateLimited(responder=lambda body: SUBMIT) as server:
        args = batch_args(tasks, server, out, *FAST_RETRIES)
        assert codescale(*args).returncode == 1
        again = codescale(*args)  # the same command: the failed task is not finished
        assert again.returncode == 1 and "0 finished earlier, 1 to run (1 failed earlier, retried)" in again.stderr
        third = codescale(*args)
        assert third.returncode == 1
        bounded = codescale(*args)  # it ran three times: left failed, and still counted as such
        assert bounded.returncode == 1 and "1 finished earlier, 0 to run" in bounded.stderr, bounded.stderr
        assert last_line(bounded).startswith("1 task: 1 failed (1 model_error)")
        assert len(lines(out / "results.jsonl")) == 3
        server.limiting = False
        fixed = codescale(*args, "--retry-errors")  # however often it ran
        assert fixed.returncode == 0, fixed.stderr
        assert last_line(fixed).startswith("1 task: 1 submitted, 0 failed")


def test_keep_errors_counts_a_failed_task_as_finished(tmp_path):
    tasks, out = local_tasks(tmp_path, "calc-1"), tmp_path / "run"
    with RateLimited(responder=lambda body: SUBMIT) as server:
        args = batch_args(tasks, server, out, *FAST_RETRIES)
        assert codescale(*args).returncode == 1
        server.limiting = False
        kept = codescale(*args, "--keep-errors")
    assert "1 finished earlier, 0 to run" in kept.stderr, kept.stderr
    assert kept.returncode == 1 and last_line(kept).startswith("1 task: 1 failed (1 model_error)")
    assert len(lines(out / "results.jsonl")) == 1


def test_preds_jsonl_holds_one_line_per_task_while_failed_tasks_are_retried(tmp_path):
    ids = [f"calc-{i}" for i in range(4)]
    tasks, out = local_tasks(tmp_path, *ids), tmp_path / "run"
    seen: list[int] = []
    with RateLimited(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        args = batch_args(tasks, server, out, *FAST_RETRIES, "--workers", "2")
        codescale(*args)
        assert sorted(p["instance_id"] for p in lines(out / "preds.jsonl")) == ids
        server.limiting = False
        proc = subprocess.Popen([sys.executable, "-m", "codescale.eval.cli", *args, "--retry-errors"],
                                stderr=subprocess.PIPE, text=True)
        stop = threading.Event()

        def watch() -> None:  # a reader looking at preds.jsonl while the retries write it
            while not stop.is_set():
                try:
                    text = (out / "preds.jsonl").read_text()
                except FileNotFoundError:
                    continue
                found = Counter(line.split('"instance_id": "', 1)[1].split('"', 1)[0]
                                for line in text.splitlines() if '"instance_id": "' in line)
                seen.append(max(found.values(), default=0))

        reader = threading.Thread(target=watch)
        reader.start()
        _, stderr = proc.communicate(timeout=300)
        stop.set()
        reader.join()
    assert proc.returncode == 0, stderr
    assert seen and max(seen) == 1
    preds = lines(out / "preds.jsonl")
    assert sorted(p["instance_id"] for p in preds) == ids
    assert all("+    return a + b" in p["model_patch"] for p in preds)  # the retried answers replaced the failed ones
    assert len(lines(out / "results.jsonl")) == 8
