"""A task's own sandbox settings can only tighten the run's: it may lower limits and take capabilities from its kind's
set (a patch task's is empty); anything that loosens the sandbox is refused in one line when the task is loaded."""

from __future__ import annotations

import json

import pytest
from conftest import CALC_FILES
from fake_server import FakeServer
from test_agent import script

from codescale.agent.records import Trajectory
from security_cli import codescale, one_error_line

LOOSER = [
    ({"cap_add": ["SYS_ADMIN"]}, "may not add the capabilities SYS_ADMIN (its kind allows: none)"),
    ({"no_new_privileges": False}, "may not turn no_new_privileges off"),
    ({"pids_limit": 1_000_000}, "may not raise pids_limit above the run's 512"),
    ({"memory": "64g"}, "may not raise memory above the run's '2g'"),
    ({"disk_limit": ""}, "may not remove the disk_limit limit"),
    ({"disk_limit": "1t"}, "may not raise disk_limit above the run's '4g'"),
    ({"remove_on_exit": False}, "may not set remove_on_exit"),
    ({"start_command": ["sh", "-c", "sleep infinity"]}, "may not set start_command"),
    ({"network": "host"}, "may not set network"),
]


def run(tmp_path, image: str, commit: str, sandbox: dict, *commands: str):
    task, out = tmp_path / "task.json", tmp_path / "run"
    task.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "add() subtracts", "image": image,
                                "base_commit": commit, "sandbox": sandbox}))
    with FakeServer(responder=script(*commands, "echo CODESCALE_SUBMIT")) as server:
        done = codescale("run", "--task", str(task), "--model", "openai/fake", "--base-url", server.openai_url,
                         "--sandbox", "docker", "--out", str(out))
    return done, out, server.requests


@pytest.mark.parametrize("sandbox, refusal", LOOSER, ids=[next(iter(s)) + "=" + repr(next(iter(s.values()))) for s, _ in LOOSER])
def test_a_task_may_not_loosen_its_sandbox(sandbox, refusal, repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    done, out, requests = run(tmp_path, image, commit, sandbox, "true")
    line = one_error_line(done)
    assert line.startswith("error: task calc-1: field 'sandbox': ") and refusal in line, line
    assert not out.exists() and requests == []


def test_a_task_may_lower_its_limits(repo_image, tmp_path):
    """The control: tightening still applies (it did before as well)."""
    image, commit = repo_image(CALC_FILES)
    look = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"
    done, out, _ = run(tmp_path, image, commit, {"pids_limit": 64, "memory": "256m"}, look)
    assert done.returncode == 0, done.stderr
    [traj] = [Trajectory.load(p) for p in out.glob("tasks/calc-1/*.traj.json")]
    assert "64" in traj.steps[0].observation.split()
