"""Checks before work: a sandbox whose base commit or work directory is missing ends the rollout before the first model
call (and the run says it failed); settings that make no sense are refused when the configuration is loaded, before
anything is written."""

from __future__ import annotations

import json

import pytest
from conftest import CALC_FILES
from fake_server import FakeServer
from test_agent import FIX, script

from codescale.agent.records import Trajectory
from security_cli import codescale, last_line, local_task, one_error_line


def run_in_docker(tmp_path, record: dict) -> tuple:
    """`codescale run` of `record` in the Docker sandbox against a server that would fix the bug and submit."""
    task, out = tmp_path / "task.json", tmp_path / "run"
    task.write_text(json.dumps(record))
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        done = codescale("run", "--task", str(task), "--model", "openai/fake", "--base-url", server.openai_url,
                         "--sandbox", "docker", "--out", str(out))
    return done, server.requests, [Trajectory.load(p) for p in sorted(out.glob("tasks/*/*.traj.json"))]


def test_a_base_commit_missing_from_the_image_ends_the_rollout_before_any_model_call(repo_image, tmp_path):
    image, _ = repo_image(CALC_FILES)
    missing = "0123456789abcdef0123456789abcdef01234567"
    done, requests, [traj] = run_in_docker(tmp_path, {"instance_id": "calc-1", "problem_statement": "add() subtracts",
                                                      "image": image, "base_commit": missing})
    assert requests == []
    assert traj.exit_status == "sandbox_error" and traj.steps == []
    assert f"the base commit {missing} is not in the repository at /testbed" in traj.error
    assert done.returncode == 1 and last_line(done) == "1 task: 1 failed (1 sandbox_error)", done.stderr


def test_a_work_directory_missing_from_the_image_ends_the_rollout_before_any_model_call(repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    done, requests, [traj] = run_in_docker(tmp_path, {"instance_id": "calc-1", "problem_statement": "add() subtracts",
                                                      "image": image, "base_commit": commit, "workdir": "/nowhere"})
    assert requests == []
    assert traj.exit_status == "sandbox_error" and "the work directory /nowhere does not exist" in traj.error
    assert done.returncode == 1 and last_line(done) == "1 task: 1 failed (1 sandbox_error)", done.stderr


@pytest.mark.parametrize("setting, named", [
    (("-c", "sandbox.cpus=0"), "sandbox.cpus"),            # 0 would take the CPU limit away
    (("-c", "sandbox.pids_limit=-1"), "sandbox.pids_limit"),
    (("-c", "sandbox.timeout=-1"), "sandbox.timeout"),
    (("-c", "model.timeout=-1"), "model.timeout"),
    (("-c", "agent.step_limit=-5"), "agent.step_limit"),
    (("-c", "sandbox.memory=lots"), "sandbox.memory"),
    (("--strategy", "nosuch"), "unknown strategy 'nosuch'"),
])
def test_a_setting_that_makes_no_sense_is_refused_before_anything_is_written(setting, named, tmp_path):
    task = local_task(tmp_path)
    record = json.loads(task.read_text())
    task.write_text(json.dumps({**record, "image": "codescale-test/none:404"}))
    before = set(tmp_path.rglob("*"))
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        sandbox = ("--sandbox", "local") if setting[0] == "--strategy" else ()
        done = codescale("run", "--task", str(task), "--model", "openai/fake", "--base-url", server.openai_url,
                         *sandbox, *setting, "--out", str(tmp_path / "run"))
    assert named in one_error_line(done)
    assert set(tmp_path.rglob("*")) == before and server.requests == []
