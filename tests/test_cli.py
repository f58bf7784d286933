"""`codescale run` as a user runs it: a real process, the fake model server, real sandboxes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import CALC_FILES, make_repo
from fake_server import FakeServer
from test_agent import FIX, script

from codescale.agent.records import Trajectory


def codescale(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "codescale.eval.cli", *args], capture_output=True, text=True, timeout=300, **kwargs
    )


@pytest.fixture(params=["local", "docker"])
def task_file(request, tmp_path):
    if request.param == "local":
        repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
        record = {"instance_id": "calc-1", "problem_statement": "add() subtracts", "repo_dir": str(repo), "base_commit": commit}
    else:
        image, commit = request.getfixturevalue("repo_image")(CALC_FILES)
        record = {"instance_id": "calc-1", "problem_statement": "add() subtracts", "image": image, "base_commit": commit}
    path = tmp_path / "task.json"
    path.write_text(json.dumps(record))
    return path, request.param


def run_containers(docker_client, run_dir) -> list:
    """The containers of the run in `run_dir` (other runs may share the engine)."""
    run_id = yaml.safe_load((run_dir / "run.yaml").read_text())["run_id"]
    return docker_client.containers.list(all=True, filters={"label": f"codescale.run_id={run_id}"})


def test_run_writes_the_run_directory(task_file, tmp_path, request):
    path, sandbox = task_file
    out = tmp_path / "run"
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        done = codescale(
            "run", "--task", str(path), "--model", "openai/fake", "--base-url", server.openai_url,
            "--sandbox", sandbox, "-c", "agent.step_limit=5", "--out", str(out),
        )
    assert done.returncode == 0, done.stderr
    assert "calc-1: submitted" in done.stderr
    [result] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert result["status"] == "done" and result["exit_statuses"] == {"g0-r0": "submitted"}
    assert "+    return a + b" in result["final_patch"]
    [pred] = [json.loads(line) for line in (out / "preds.jsonl").read_text().splitlines()]
    assert pred == {"instance_id": "calc-1", "model_name_or_path": "openai/fake", "model_patch": result["final_patch"]}
    traj = Trajectory.load(out / "tasks" / "calc-1" / "g0-r0.traj.json")
    assert [s.action for s in traj.steps] == [FIX, "echo CODESCALE_SUBMIT"]
    assert json.loads((out / "tasks" / "calc-1" / "task.json").read_text())["instance_id"] == "calc-1"
    run_yaml = (out / "run.yaml").read_text()
    assert "step_limit: 5" in run_yaml and "sandbox:\n    kind: " + sandbox in run_yaml
    assert "versions:" in run_yaml and "run_id:" in run_yaml
    if sandbox == "docker":
        assert run_containers(request.getfixturevalue("docker_client"), out) == []


def test_an_earlier_run_is_not_overwritten_by_accident(task_file, tmp_path):
    path, sandbox = task_file
    out = tmp_path / "run"
    with FakeServer(responder=script("echo CODESCALE_SUBMIT")) as server:
        args = ("run", "--task", str(path), "--model", "openai/fake", "--base-url", server.openai_url, "--sandbox", sandbox, "--out", str(out))
        assert codescale(*args).returncode == 0
        again = codescale(*args)
        assert again.returncode == 2 and "already holds results; pass --overwrite" in again.stderr
        assert codescale(*args, "--overwrite").returncode == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 1


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_a_malformed_task_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"instance_id": "x", "problem_statement": ')
    line = one_error_line(codescale("run", "--task", str(bad), "--model", "openai/fake", "--out", str(tmp_path / "o")))
    assert "bad.json" in line
    assert not (tmp_path / "o").exists()


def test_a_task_without_a_problem_statement_names_the_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"instance_id": "x-1"}')
    line = one_error_line(codescale("run", "--task", str(bad), "--model", "openai/fake", "--out", str(tmp_path / "o")))
    assert "x-1" in line and "problem_statement" in line
    assert not (tmp_path / "o").exists()


def test_an_unknown_demo_sandbox_is_one_clear_error(tmp_path):
    line = one_error_line(codescale("demo", "--sandbox", "podman", "--out", str(tmp_path / "o")))
    assert "--sandbox podman" in line and "docker or local" in line
    assert not (tmp_path / "o").exists()


def test_an_unknown_model_id_is_one_clear_error(task_file, tmp_path):
    path, _ = task_file
    line = one_error_line(codescale("run", "--task", str(path), "--model", "gemin/pro", "--out", str(tmp_path / "o")))
    assert "unknown model id 'gemin/pro'" in line and "anthropic, azure, bedrock, deepseek" in line
    assert "--model openai/NAME --base-url URL" in line
    assert not (tmp_path / "o").exists()


def test_an_unreachable_server_is_one_clear_error(task_file, tmp_path):
    path, sandbox = task_file
    done = codescale(
        "run", "--task", str(path), "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1",
        "--sandbox", sandbox, "--out", str(tmp_path / "o"),
    )
    assert "cannot reach the model server at http://127.0.0.1:9/v1" in one_error_line(done)
    assert not (tmp_path / "o").exists()


def test_a_missing_image_is_one_clear_error(docker_client, tmp_path):
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"instance_id": "ghost-1", "problem_statement": "x", "image": "codescale-test/none:404"}))
    with FakeServer() as server:
        done = codescale(
            "run", "--task", str(task), "--model", "openai/fake", "--base-url", server.openai_url,
            "--sandbox", "docker", "--out", str(tmp_path / "o"),
        )
    line = one_error_line(done)
    assert "ghost-1" in line and "codescale-test/none:404" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_run_leaves_no_container(docker_client, repo_image, tmp_path, sig):
    image, commit = repo_image(CALC_FILES)
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "x", "image": image, "base_commit": commit}))
    with FakeServer(responder=script("sleep 120")) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codescale.eval.cli", "run", "--task", str(task), "--model", "openai/fake",
             "--base-url", server.openai_url, "--out", str(tmp_path / "o")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the command is running in the container now
        assert run_containers(docker_client, tmp_path / "o"), "the rollout's container should be up"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert run_containers(docker_client, tmp_path / "o") == []
    partial = Trajectory.load(tmp_path / "o" / "tasks" / "calc-1" / "g0-r0.traj.json")
    assert partial.exit_status is None  # what was written before the interrupt is kept, marked unfinished
