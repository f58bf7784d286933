"""SIGKILL of `codescale evaluate` and `codescale select` mid-way: the same command run again completes, with every
task once in what it writes and no container of the killed session left."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from fake_server import FakeServer
from saved_runs import calc_tasks, grade_by_plan, make_run
from test_grading import write_run

from codescale.eval.tasks.load import load_tasks
from codescale.scaling.records import Selection

TASKS = ["codescale__confkit-1", "codescale__eventbus-1", "codescale__invoicer-1"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "codescale.eval.cli", *args]


def harness_containers(docker_client, instance_ids: list[str]) -> list[str]:
    names = [c["Names"][0] for c in docker_client.api.containers(all=True)]
    return [n for n in names if n.startswith("/sweb.eval.") and any(i in n for i in instance_ids)]


def kill_when(proc: subprocess.Popen, ready, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert proc.poll() is None, "the command ended before its kill point"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_evaluate_killed_mid_grading_completes_when_run_again(docker_client, base_image, tmp_path):
    tasks = load_tasks(ids=TASKS, base_image=base_image)
    write_run(tmp_path, tasks, [t.patch for t in tasks])
    proc = subprocess.Popen(cli("evaluate", str(tmp_path), "--workers", "1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # killed while the harness grades the second task (its first log exists, its report does not)
    kill_when(proc, lambda: len(list(tmp_path.glob("logs/*/*/*/run_instance.log"))) >= 2)
    assert not (tmp_path / "eval.jsonl").exists()
    again = subprocess.run(cli("evaluate", str(tmp_path), "--workers", "1"), capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    lines = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert sorted((g["instance_id"], g["resolved"]) for g in lines) == [(i, True) for i in sorted(TASKS)], lines
    assert harness_containers(docker_client, TASKS) == []


class SlowJudge:
    """The saved run's script, with each judge request taking a moment (so a kill lands mid-selection)."""

    def __init__(self, script):
        self.script = script

    def __call__(self, body: dict):
        if body["messages"][0]["content"].startswith("You review attempts"):
            time.sleep(0.3)
        return self.script(body)


@pytest.mark.slow
def test_select_killed_mid_way_completes_when_run_again(tmp_path):
    plans = {"calc-0": ["fix", "wrong", "other", "fix"], "calc-1": ["wrong", "fix", "other", "wrong"],
             "calc-2": ["other", "wrong", "fix", "fix"]}
    with FakeServer() as server:
        run, script = make_run(server, tmp_path / "run", calc_tasks(tmp_path, 3), plans, strategy="rtv", n=4,
                               rtv={"votes": 2})
        grade_by_plan(run)
        server.responder = SlowJudge(script)
        out = tmp_path / "v4"
        args = cli("select", str(run.path), "-c", "scaling.rtv.votes=4", "--out", str(out), "--workers", "1",
                   "-c", f"model.base_url={server.openai_url}")
        start = len(server.requests)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_when(proc, lambda: len(server.requests) >= start + 3)
        again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["instance_id"] for r in results) == sorted(plans)
    for instance_id in plans:
        selection = Selection.model_validate_json((out / "tasks" / instance_id / "selection.json").read_text())
        assert all(len(m.votes) >= 4 for r in selection.rounds for m in r.matches if not (m.bye or m.identical))
