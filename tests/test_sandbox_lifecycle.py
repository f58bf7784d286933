"""Sandboxes started while the first model call runs (once a sandbox of the same source has started: the first one
is waited for) and removed in the background: a failed start is a sandbox_error that cost no model call, and
nothing is left when a command exits or is interrupted (real Docker, fake model server)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml
from conftest import CALC_FILES
from fake_server import FakeServer

from codescale.agent.loop import AgentConfig
from codescale.agent.models.base import ModelConfig
from codescale.agent.records import Task
from codescale.agent.rollout import RolloutConfig, run_rollout
from codescale.sandboxes.docker import RUN_LABEL, DockerSandbox, DockerSandboxConfig
from codescale.sandboxes.lifecycle import settle


def labelled(client, run_id: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})


def submit_after(first: str):
    def respond(body: dict) -> str:
        step = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return f"Go.\n```bash\n{first if step == 0 else 'echo CODESCALE_SUBMIT'}\n```"

    return respond


def test_a_sandbox_that_fails_to_start_costs_no_model_call(docker_client, tmp_path):
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    task = Task(instance_id="calc-1", problem_statement="x", image="codescale-test/absent:nope", base_commit="abc")
    with FakeServer(responder=submit_after("ls")) as server:
        config = RolloutConfig(model=ModelConfig(id="openai/fake", base_url=server.openai_url), agent=AgentConfig())
        traj = run_rollout(task, config, run_id=run_id, rollout_id="r0", task_dir=tmp_path)
        calls = len(server.requests)
    assert calls == 0  # the first sandbox of a source is waited for before the first model call
    assert traj.exit_status == "sandbox_error"
    assert traj.error == "Docker image 'codescale-test/absent:nope' not found locally (build it, or set pull: true)"
    assert traj.steps == [] and traj.usage.requests == 0
    settle()
    assert labelled(docker_client, run_id) == []


def test_once_a_source_started_the_first_model_call_does_not_wait_for_the_container(docker_client, repo_image,
                                                                                       tmp_path):
    image, commit = repo_image(CALC_FILES)
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    task = Task(instance_id="calc-1", problem_statement="x", image=image, base_commit=commit)
    with FakeServer(responder=submit_after("ls")) as server:
        config = RolloutConfig(model=ModelConfig(id="openai/fake", base_url=server.openai_url), agent=AgentConfig())
        run_rollout(task, config, run_id=run_id, rollout_id="r0", task_dir=tmp_path)  # checks the source, waiting
        since = time.time()
        run_rollout(task, config, run_id=run_id, rollout_id="r1", task_dir=tmp_path)
        asked = time.time() - (time.monotonic() - server.requests[2].time)  # r1's first request, on the wall clock
    filters = {"type": "container", "event": "start", "label": f"{RUN_LABEL}={run_id}"}
    [started] = docker_client.events(since=since, until=time.time() + 1, decode=True, filters=filters)
    assert asked < started["timeNano"] / 1e9  # the model was asked before the container had started
    settle()


def test_a_rollout_returns_before_its_removal_and_settle_waits_for_it(docker_client, repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    task = Task(instance_id="calc-1", problem_statement="x", image=image, base_commit=commit)
    with FakeServer(responder=submit_after("echo hi > new.txt")) as server:
        config = RolloutConfig(model=ModelConfig(id="openai/fake", base_url=server.openai_url), agent=AgentConfig())
        trajs = [run_rollout(task, config, run_id=run_id, rollout_id=f"r{i}", task_dir=tmp_path) for i in range(3)]
    assert [t.exit_status for t in trajs] == ["submitted"] * 3
    assert all("+hi" in t.patch for t in trajs)
    assert settle() == 0
    assert labelled(docker_client, run_id) == []


def test_a_sandbox_closed_before_its_start_ends_leaves_nothing(docker_client, repo_image):
    image, _ = repo_image(CALC_FILES)
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    sandboxes = [DockerSandbox(DockerSandboxConfig(), image=image, run_id=run_id).start() for _ in range(4)]
    for sandbox in sandboxes:
        sandbox.close()
    settle()
    assert labelled(docker_client, run_id) == []


def test_interrupting_a_run_while_its_containers_start_leaves_none(docker_client, repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "x", "image": image, "base_commit": commit}))

    def slow(body: dict) -> str:
        time.sleep(30)
        return "```bash\necho CODESCALE_SUBMIT\n```"

    with FakeServer(responder=slow) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codescale.eval.cli", "run", "--task", str(task), "--model", "openai/fake",
             "--base-url", server.openai_url, "--strategy", "best_of_n", "-c", "scaling.n=4", "-c",
             "scaling.concurrency=4", "--out", str(tmp_path / "o")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)  # the first model call is in flight: the containers are starting
        _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr
    run_id = yaml.safe_load((tmp_path / "o" / "run.yaml").read_text())["run_id"]
    assert labelled(docker_client, run_id) == []


@pytest.mark.parametrize("shell", ["session", "exec"])
def test_a_rollout_whose_command_stops_its_container_ends_with_a_sandbox_error(docker_client, repo_image, tmp_path, shell):
    image, commit = repo_image(CALC_FILES)
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    task = Task(instance_id="calc-1", problem_statement="x", image=image, base_commit=commit)

    def respond(body: dict) -> str:
        time.sleep(0.3)
        step = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return f"Go.\n```bash\n{'kill -KILL -1' if step == 0 else 'echo more'}\n```"

    with FakeServer(responder=respond) as server:
        config = RolloutConfig(model=ModelConfig(id="openai/fake", base_url=server.openai_url),
                               sandbox={"kind": "docker", "shell": shell}, agent=AgentConfig(step_limit=40))
        start = time.monotonic()
        traj = run_rollout(task, config, run_id=run_id, rollout_id="r0", task_dir=tmp_path)
    assert traj.exit_status == "sandbox_error" and traj.error
    assert traj.steps[0].returncode == 137 and time.monotonic() - start < 30
    settle()
    assert labelled(docker_client, run_id) == []
