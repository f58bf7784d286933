"""Containers started ahead (sandbox.warm_limit): a strategy's next rollouts and a batch's next task find theirs
started, within the limit, and none is left at the end (real Docker, fake model server)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import yaml
from conftest import BASE_IMAGE, CALC_FILES, LiveEvents
from fake_server import FakeServer
from scaling_script import ScalingScript

from codescale.agent.records import Task
from codescale.eval.runs.config import RunConfig
from codescale.eval.runs.launch import run_task
from codescale.sandboxes.docker import RUN_LABEL
from codescale.sandboxes.lifecycle import settle

FIX = "sed -i 's/a - b/a + b/' calc/ops.py"


class Slow:
    """The scaling script with each agent call taking `seconds`, and the times (epoch) of the calls by kind."""

    def __init__(self, script: ScalingScript, seconds: float):
        self.script, self.seconds, self.calls = script, seconds, []

    def __call__(self, body: dict):
        system = body["messages"][0]["content"]
        kind = "judge" if system.startswith("You review") else "summary" if system.startswith("You summarize") else "agent"
        self.calls.append((time.time(), kind, body["messages"][1]["content"]))
        if kind == "agent":
            time.sleep(self.seconds)
        return self.script(body)


def lifetimes(events: LiveEvents, run_id: str) -> list[tuple[float, float, str]]:
    """(created, destroyed, codescale.sandbox label) of each container of the run."""
    def at(action):
        return {e["id"]: (e["timeNano"] / 1e9, e["Actor"]["Attributes"].get("codescale.sandbox", ""))
                for e in events.events if e["Action"] == action and e["Actor"]["Attributes"].get(RUN_LABEL) == run_id}
    created, destroyed = at("create"), at("destroy")
    return sorted((when, destroyed[cid][0] if cid in destroyed else float("inf"), name) for cid, (when, name) in created.items())


def most_alive(spans: list[tuple[float, float, str]]) -> int:
    moments = sorted([(start, 1) for start, _, _ in spans] + [(end, -1) for _, end, _ in spans], key=lambda m: (m[0], m[1]))
    alive = peak = 0
    for _, change in moments:
        alive += change
        peak = max(peak, alive)
    return peak


def pdr(server, image, commit, out, *, concurrency: int, warm_limit: int, latency: float):
    slow = Slow(ScalingScript(["fix", "wrong"] * 2, {"fix": [FIX], "wrong": ["true"]}), latency)
    server.responder = slow
    config = RunConfig.model_validate({
        "model": {"id": "openai/fake", "base_url": server.openai_url, "retries": {"attempts": 1}},
        "sandbox": {"kind": "docker", "warm_limit": warm_limit},
        "scaling": {"strategy": "pdr+rtv", "n": 2, "concurrency": concurrency, "rtv": {"votes": 2}, "pdr": {"k": 1}},
    })
    task = Task(instance_id="calc-1", problem_statement="add() subtracts", image=image, base_commit=commit)
    result = run_task(task, config, out, say=lambda _: None)
    settle()
    return result, slow, yaml.safe_load((out / "run.yaml").read_text())["run_id"]


def test_the_refined_generations_containers_start_while_generation_0_runs(docker_client, repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    with LiveEvents(docker_client, "container", ["create", "destroy"]) as seen, FakeServer() as server:
        result, slow, run_id = pdr(server, image, commit, tmp_path / "run", concurrency=2, warm_limit=2, latency=0.5)
    assert result.status == "done" and result.rollouts == [["g0-r0", "g0-r1"], ["g1-r0", "g1-r1"]]
    spans = lifetimes(seen, run_id)
    assert len(spans) == 4  # one per rollout: none started ahead in vain
    generation_0_over = min(at for at, kind, _ in slow.calls if kind != "agent")
    assert sum(created < generation_0_over for created, _, _ in spans) == 4
    assert all(destroyed < float("inf") for _, destroyed, _ in spans)


def test_containers_started_ahead_stay_within_the_limit(docker_client, repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    with LiveEvents(docker_client, "container", ["create", "destroy"]) as seen, FakeServer() as server:
        result, _, run_id = pdr(server, image, commit, tmp_path / "run", concurrency=1, warm_limit=1, latency=0.5)
    assert result.status == "done"
    spans = lifetimes(seen, run_id)
    assert len(spans) == 4 and all(name == "calc-1.ahead" for _, _, name in spans[1:])
    assert most_alive(spans) <= 1 + 1  # the rollout slot and the one started ahead


def test_a_batch_starts_the_next_tasks_container_while_the_current_task_runs(docker_client, repo_image, tmp_path):
    tasks = []
    for number, files in enumerate([CALC_FILES, {**CALC_FILES, "NOTES": "second\n"}], 1):
        image, commit = repo_image(files)
        tasks.append({"instance_id": f"calc-{number}", "problem_statement": f"calc-{number}: add() subtracts",
                      "image": image, "base_commit": commit})
    dataset = tmp_path / "tasks.jsonl"
    dataset.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    out = tmp_path / "run"
    with LiveEvents(docker_client, "container", ["create", "destroy"]) as seen, FakeServer() as server:
        slow = Slow(ScalingScript(["fix", "fix"], {"fix": [FIX]}), 1.0)
        server.responder = slow
        done = subprocess.run([sys.executable, "-m", "codescale.eval.cli", "batch", "--dataset", str(dataset), "--model",
                               "openai/fake", "--base-url", server.openai_url, "--base-image", BASE_IMAGE, "--strategy",
                               "single", "--workers", "1", "-c", "sandbox.warm_limit=1", "--out", str(out),
                               "--no-live"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run_id = yaml.safe_load((out / "run.yaml").read_text())["run_id"]
    spans = lifetimes(seen, run_id)
    first_task_last_call = max(at for at, kind, prompt in slow.calls if kind == "agent" and "calc-1:" in prompt)
    created = {name: at for at, _, name in spans}
    assert sorted(created) == ["calc-1.ahead", "calc-2.ahead"]
    assert created["calc-2.ahead"] < first_task_last_call  # while the first task still ran
    assert run_containers_left(docker_client, run_id) == []


def run_containers_left(docker_client, run_id: str) -> list:
    return docker_client.api.containers(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})


def test_ctrl_c_removes_the_containers_started_ahead(docker_client, repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "x", "image": image, "base_commit": commit}))
    script = ScalingScript(["fix", "wrong"] * 2, {"fix": [FIX], "wrong": ["true"]})

    def respond(body: dict):
        if not body["messages"][0]["content"].startswith(("You review", "You summarize")):
            return script(body)
        time.sleep(60)  # generation 0 is over; the refined generation's containers wait, started ahead
        return script(body)

    out = tmp_path / "o"
    with FakeServer(responder=respond) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codescale.eval.cli", "run", "--task", str(task), "--model", "openai/fake",
             "--base-url", server.openai_url, "--strategy", "pdr+rtv", "-c", "scaling.n=2", "-c", "scaling.concurrency=2",
             "-c", "sandbox.warm_limit=2", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not any(r.json["messages"][0]["content"].startswith("You summarize") for r in list(server.requests)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        run_id = yaml.safe_load((out / "run.yaml").read_text())["run_id"]
        waiting = [c for c in run_containers_left(docker_client, run_id) if c["Labels"]["codescale.sandbox"] == "calc-1.ahead"
                   and c["State"] == "running"]
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr
    assert len(waiting) >= 2  # the refined generation's (and maybe generation 0's, being removed)
    assert run_containers_left(docker_client, run_id) == []
