"""Caps on every command: a run-wide cost cap (--max-cost) that no model request passes, a cost cap per task
(--max-task-cost) after which the task ends with what it has, and requests and tokens per minute (--rpm, --tpm)
shared by every thread of the process, measured from the fake server's log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import CALC_FILES, make_repo
from fake_server import FakeServer
from test_fix_issue import ISSUE, TESTS, agent, run_args
from test_agent import FIX

from codescale.agent.models.base import Model, ModelConfig, RetryConfig
from codescale.agent.models.limits import LIMITS
from codescale.agent.models.rates import Pace, RateConfig
from codescale.agent.records import Trajectory

ROOT = Path(__file__).parent.parent
SUBMIT = "Done.\n```bash\necho CODESCALE_SUBMIT\n```"
GPT5_MINI = (0.25, 0.025, 2.00)
"""openai/gpt-5-mini: USD per million input, cached input, output tokens."""


def codescale(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codescale.eval.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, cwd=ROOT)


def cost(reply: dict) -> float:
    """What one reply of the fake server costs at gpt-5-mini's prices, by hand."""
    usage = reply["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    price_in, price_cached, price_out = GPT5_MINI
    return ((usage["prompt_tokens"] - cached) * price_in + cached * price_cached
            + usage["completion_tokens"] * price_out) / 1e6


@pytest.fixture
def calc_task(tmp_path) -> Path:
    repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "add() subtracts",
                                "repo_dir": str(repo), "base_commit": commit}))
    return path


def test_rpm_60_keeps_a_burst_at_one_request_per_second(fake_server):
    fake_server.responder = lambda body: "ok"
    model = Model(ModelConfig(id="openai/fake", base_url=fake_server.openai_url))
    with LIMITS.applied(rates=RateConfig(rpm=60)):
        threads = [threading.Thread(target=model.complete, args=([{"role": "user", "content": f"q{i}"}],))
                   for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    arrivals = sorted(r.time for r in fake_server.requests)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(arrivals) == 5 and min(gaps) >= 0.95, gaps  # a burst of 5 at once, sent a second apart
    assert (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) >= 0.99


def test_rpm_60_over_a_runs_concurrent_rollouts(calc_task, tmp_path):
    with FakeServer(responder=lambda body: SUBMIT) as server:
        done = codescale("run", "--task", str(calc_task), "--sandbox", "local", "--model", "openai/fake",
                         "--base-url", server.openai_url, "--strategy", "best_of_n", "-c", "scaling.n=4",
                         "-c", "scaling.concurrency=4", "--rpm", "60", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    arrivals = sorted(r.time for r in server.requests if r.path == "/v1/chat/completions")
    assert len(arrivals) == 4  # 4 rollouts started together, each one request
    assert min(b - a for a, b in zip(arrivals, arrivals[1:])) >= 0.95
    saved = (tmp_path / "run" / "run.yaml").read_text()
    assert "rpm: 60" in saved


def test_tpm_holds_a_request_until_the_last_minutes_tokens_fall_below_the_limit():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pace = Pace(RateConfig(tpm=1000), clock=lambda: now[0], sleep=sleep)
    assert pace.wait() == 0
    pace.spent(600)  # at t=0
    now[0] = 10.0
    assert pace.wait() == 0  # 600 of 1000 in the last minute
    pace.spent(500)  # at t=10: 1100
    now[0] = 20.0
    assert pace.wait() == pytest.approx(40.0)  # until t=60, when the 600 of t=0 leave the window
    assert now[0] == pytest.approx(60.0) and slept == [pytest.approx(40.0)]


def test_max_cost_without_a_price_asks_for_one_in_one_line(calc_task, tmp_path, fake_server):
    done = codescale("run", "--task", str(calc_task), "--sandbox", "local", "--model", "openai/house-model",
                     "--base-url", fake_server.openai_url, "--max-cost", "1", "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: --max-cost needs a price for openai/house-model, which has none: add one to "
                                  "~/.config/codescale/models.yaml as `models: {openai/house-model: {input: USD, "
                                  "output: USD}}`")
    assert not (tmp_path / "run").exists() and not fake_server.requests


def test_max_task_cost_ends_the_task_with_what_it_has(calc_task, tmp_path):
    steps = ["Look.\n```bash\nls\n```", "Read.\n```bash\ncat calc/ops.py\n```", SUBMIT]

    def responder(body):
        return steps[min(2, sum(m["role"] == "assistant" for m in body["messages"]))]

    with FakeServer(responder=responder) as server:
        done = codescale("run", "--task", str(calc_task), "--sandbox", "local", "--model", "openai/gpt-5-mini",
                         "--base-url", server.openai_url, "--strategy", "best_of_n", "-c", "scaling.n=3",
                         "-c", "scaling.concurrency=1", "--max-task-cost", "0.0001", "--out", str(tmp_path / "run"))
        replies = [r.reply for r in server.requests]
    assert done.returncode == 0, done.stderr
    [result] = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    spent = sum(cost(r) for r in replies)
    assert result["usage"]["rollouts"]["cost_usd"] == pytest.approx(spent)
    assert 0.0001 <= spent <= 0.0001 + max(cost(r) for r in replies)  # one request in flight at a time
    assert result["exit_statuses"]["g0-r0"] == "cost_limit"  # cut at its next step once the task had spent the cap
    assert result["exit_statuses"]["g0-r2"] == "cost_limit"  # never started: no sandbox, no request
    assert result["cap"].startswith("task cost cap reached: $0.0001")
    assert len(replies) < 9  # 3 rollouts of 3 steps without the cap
    *_, said, outcome = done.stderr.splitlines()
    assert said.startswith("task cost cap reached: $0.0001") and outcome == "1 task: 1 ended by cost_limit, 0 failed"


@pytest.mark.slow
def test_fix_issue_max_cost_stops_at_the_cap(tmp_path, base_image):
    repo, _ = make_repo(tmp_path / "calc", CALC_FILES)
    issue = tmp_path / "issue.md"
    issue.write_text(ISSUE)
    out, cap = tmp_path / "out", 0.0005
    with FakeServer(responder=agent(FIX, TESTS, "echo CODESCALE_SUBMIT")) as server:
        args = run_args(repo, issue, server, out, base_image, "--strategy", "rtv", "-c", "scaling.n=4",
                        "-c", "scaling.concurrency=1", "--max-cost", str(cap))
        args[args.index("openai/fake")] = "openai/gpt-5-mini"
        done = subprocess.run([sys.executable, "-m", "codescale.eval.cli", "fix-issue", *args], capture_output=True,
                              text=True, timeout=600, cwd=ROOT)
        replies = [r.reply for r in server.requests if r.reply]
    assert done.returncode == 3, done.stderr
    result = json.loads((out / "result.json").read_text())
    spent = sum(cost(r) for r in replies)
    assert result["status"] == "stopped" and result["reason"].startswith("cost budget reached")
    assert result["cost_usd"] == pytest.approx(spent)
    assert cap <= spent <= cap + max(cost(r) for r in replies)  # stopped at the cap: one request in flight at most
    assert len(replies) < 4 * 3  # 4 attempts of 3 steps (and their summaries and votes) without the cap
    assert (out / "patch.diff").read_text() == ""
    assert done.stderr.splitlines()[-1].startswith("stopped: cost budget reached: $")


def test_run_stops_at_max_cost_and_the_same_command_with_a_higher_cap_resumes(calc_task, tmp_path):
    steps = ["Look.\n```bash\nls\n```", SUBMIT]

    def responder(body):
        return steps[min(1, sum(m["role"] == "assistant" for m in body["messages"]))]

    out = tmp_path / "run"
    with FakeServer(responder=responder) as server:
        args = ["run", "--task", str(calc_task), "--sandbox", "local", "--model", "openai/gpt-5-mini", "--base-url",
                server.openai_url, "--strategy", "best_of_n", "-c", "scaling.n=3", "-c", "scaling.concurrency=1",
                "--out", str(out)]
        stopped = codescale(*args, "--max-cost", "0.0001")
        first = [r.reply for r in server.requests]
        finished = sum(Trajectory.load(p).exit_status is not None for p in out.glob("tasks/*/*.traj.json"))
        no_result = not (out / "results.jsonl").exists()
        resumed = codescale(*args, "--max-cost", "1")
        second = server.requests[len(first):]
    assert stopped.returncode == 3, stopped.stderr
    assert stopped.stderr.splitlines()[-1].startswith("stopped: cost budget reached: $0.0001")
    spent = sum(cost(r) for r in first)
    assert 0.0001 <= spent <= 0.0001 + max(cost(r) for r in first)
    assert no_result  # the task stopped unfinished
    assert resumed.returncode == 0, resumed.stderr
    [result] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert set(result["exit_statuses"].values()) == {"submitted"}
    assert 0 < finished < 3 and len(second) == 2 * (3 - finished)  # the finished rollouts were reused
