"""`codescale batch --ray` on a real multi-node Ray cluster on this machine (a head without Docker and two worker
nodes offering the "docker" resource, all sharing this machine's engine), against the fake model server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import engine_events
from fake_server import FakeServer
from test_batch import batch, batch_args, finished_trajectories, results, run_containers

from codescale.agent.records import Trajectory
from codescale.eval.tasks.load import load_tasks

ray = pytest.importorskip("ray", reason="the cluster tests need codescale[ray]")

FIXED, UNFIXED = "codescale__slugkit-1", "codescale__textstats-1"


@pytest.fixture(scope="session")
def ray_cluster(docker_client):
    """One cluster for the whole test session (starting it takes about half a minute)."""
    from ray_cluster import RayCluster

    with RayCluster(workers=2, slots=2) as cluster:
        yield cluster


class GoldScript:
    """Rollouts of FIXED apply its gold patch, rollouts of UNFIXED change a README line; both then submit."""

    def __init__(self, base_image: str, latency: float = 0.0):
        tasks = load_tasks(ids=[FIXED, UNFIXED], base_image=base_image)
        self.commands = {t.problem_statement.strip()[:200]: (
            f"git apply <<'CODESCALE_PATCH'\n{t.patch}CODESCALE_PATCH" if t.instance_id == FIXED
            else "echo unrelated >> README.md") for t in tasks}
        self.latency = latency
        self.started = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> str:
        time.sleep(self.latency)
        messages = body["messages"]
        if len(messages) == 2:
            with self._lock:
                self.started += 1
            prompt = messages[1]["content"]
            command = next(c for key, c in self.commands.items() if key in prompt)
            return f"Fixing it.\n```bash\n{command}\n```"
        return "Done.\n```bash\necho CODESCALE_SUBMIT\n```"


def shape(out: Path) -> dict:
    """What a run recorded, without times, usage and random picks: per task, its status, rollouts and their
    exit statuses, and the files of its task directory."""
    found = {}
    for r in results(out):
        files = sorted(p.name for p in (out / "tasks" / r["instance_id"]).iterdir())
        found[r["instance_id"]] = (r["status"], r["rollouts"], r["exit_statuses"], files)
    return found


def evaluate(out: Path) -> dict[str, bool]:
    done = subprocess.run([sys.executable, "-m", "codescale.eval.cli", "evaluate", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    return {g["instance_id"]: g["resolved"] for g in map(json.loads, (out / "eval.jsonl").read_text().splitlines())}


@pytest.mark.slow
def test_a_cluster_run_records_and_grades_like_a_local_run(ray_cluster, docker_client, base_image, tmp_path):
    args = ("--dataset", "codescale", "--ids", f"{FIXED},{UNFIXED}", "--strategy", "best_of_n", "-c", "scaling.n=3",
            "--workers", "2")
    with FakeServer(responder=GoldScript(base_image)) as server:
        local = batch(tmp_path / "local", server, *args)
        assert local.returncode == 0, local.stderr
        remote = batch(tmp_path / "ray", server, *args, "--ray", ray_cluster.address)
        assert remote.returncode == 0, remote.stderr
    assert "2 node(s) with 'docker', 4 rollout slots" in remote.stderr  # the head has no Docker: no slot there
    assert shape(tmp_path / "ray") == shape(tmp_path / "local")
    assert evaluate(tmp_path / "ray") == evaluate(tmp_path / "local") == {FIXED: True, UNFIXED: False}
    assert run_containers(docker_client, tmp_path / "ray") == []


@pytest.mark.slow
def test_ctrl_c_cancels_the_rollouts_and_removes_their_containers_on_every_node(ray_cluster, docker_client, base_image,
                                                                               tmp_path):
    out = tmp_path / "run"
    script = GoldScript(base_image, latency=2.0)
    args = ("--dataset", "codescale", "--ids", f"{FIXED},{UNFIXED}", "--strategy", "best_of_n", "-c", "scaling.n=4",
            "-c", "scaling.concurrency=2", "--workers", "2", "--ray", ray_cluster.address)
    with FakeServer(responder=script) as server:
        proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 240
        while len(run_containers(docker_client, out) if (out / "run.yaml").exists() else []) < 3:
            assert time.monotonic() < deadline and proc.poll() is None, "no rollouts started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr
        requests = len(server.requests)
        time.sleep(5)  # a rollout left running would make a model call within 2 s, a new one a container
        assert len(server.requests) == requests
    assert run_containers(docker_client, out) == []
    assert not (out / "results.jsonl").exists() or results(out) == []


@pytest.mark.slow
def test_a_node_killed_mid_batch_loses_no_task_and_records_each_rollout_once(ray_cluster, docker_client, base_image,
                                                                           tmp_path):
    out = tmp_path / "run"
    n = 4
    script = GoldScript(base_image, latency=1.0)
    args = ("--dataset", "codescale", "--ids", f"{FIXED},{UNFIXED}", "--strategy", "best_of_n", "-c", f"scaling.n={n}",
            "-c", "scaling.concurrency=2", "--workers", "2", "--ray", ray_cluster.address)
    try:
        with FakeServer(responder=script) as server:
            proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            deadline = time.monotonic() + 240
            while (script.started < 4 or not ray_cluster.running(0, "rollout_on_node")) \
                    and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            assert proc.poll() is None, "the run ended before the kill"
            ray_cluster.kill_worker(0)  # with a rollout running on it
            _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    finally:
        ray_cluster.revive_worker(0)
    recorded = results(out)
    assert sorted(r["instance_id"] for r in recorded) == sorted([FIXED, UNFIXED])  # each task exactly once
    for r in recorded:
        ids = r["rollouts"][0]
        assert len(ids) == len(set(ids)) == n
        assert set(r["exit_statuses"].values()) == {"submitted"}
        trajectories = sorted((out / "tasks" / r["instance_id"]).glob("*.traj.json"))
        assert [p.name for p in trajectories] == [f"{i}.traj.json" for i in sorted(ids)]
        assert all(len(json.loads(p.read_text())["steps"]) == 2 for p in trajectories)
    assert script.started >= 2 * n  # more when a lost rollout had called the model before its node died
    assert run_containers(docker_client, out) == []


@pytest.mark.slow
def test_a_killed_driver_rerun_reuses_every_finished_rollout(ray_cluster, docker_client, base_image, tmp_path):
    out = tmp_path / "run"
    args = ("--dataset", "codescale", "--ids", f"{FIXED},{UNFIXED}", "--strategy", "best_of_n", "-c", "scaling.n=4",
            "-c", "scaling.concurrency=2", "--workers", "1", "--ray", ray_cluster.address)
    with FakeServer(responder=GoldScript(base_image, latency=0.5)) as server:
        proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while len(finished_trajectories(out)) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before the kill"
        proc.send_signal(signal.SIGKILL)  # with rollouts running on the nodes
        proc.wait(timeout=30)
        kept = finished_trajectories(out)
        assert not (out / "results.jsonl").exists() or len(results(out)) < 2, "killed after the last task finished"
        final = batch(out, server, *args)
    assert final.returncode == 0, final.stderr
    assert sorted(r["instance_id"] for r in results(out)) == sorted([FIXED, UNFIXED])  # each exactly once
    now = finished_trajectories(out)
    assert len(now) == 8
    assert all(now[path] == before for path, before in kept.items()), "a finished rollout was run again"
    assert run_containers(docker_client, out) == []  # those the killed driver's rollouts had left included


def image_made_at(docker_client, image: str, since: float) -> float:
    """When `image` was last tagged (built, or pulled) on the engine since `since` (seconds since the epoch)."""
    events = engine_events(docker_client, since, "image", "tag")
    return max(e["timeNano"] / 1e9 for e in events if e["Actor"]["Attributes"].get("name") == image)


@pytest.mark.slow
def test_the_next_tasks_image_is_made_on_a_node_while_the_current_task_runs(ray_cluster, docker_client, own_base,
                                                                              tmp_path):
    out = tmp_path / "run"
    start = time.time()
    args = ("--dataset", "codescale", "--ids", f"{FIXED},{UNFIXED}", "--strategy", "best_of_n", "-c", "scaling.n=2",
            "--workers", "1", "--pull-ahead", "1", "--base-image", own_base, "--ray", ray_cluster.address)
    with FakeServer(responder=GoldScript(own_base, latency=1.0)) as server:
        done = batch(out, server, *args)
    assert done.returncode == 0, done.stderr
    assert "images 2 pulled" in done.stderr  # the one pulled ahead counted too
    first, second = (load_tasks(ids=[r["instance_id"]], base_image=own_base)[0] for r in results(out))
    rollouts = [Trajectory.load(p) for p in (out / "tasks" / first.instance_id).glob("*.traj.json")]
    first_ended = max(t.started_at.timestamp() + t.seconds for t in rollouts)
    assert image_made_at(docker_client, second.image, start) < first_ended  # one task at a time: only pulled ahead


@pytest.mark.slow
def test_container_tasks_are_checked_on_the_node_and_their_rewards_recorded_by_the_driver(ray_cluster, docker_client,
                                                                                          base_image, tmp_path):
    from test_terminal import Solver, rewards

    from codescale.eval.tasks import harbor

    names = ["log-5xx", "sales-totals"]
    dirs = [d for d in harbor.task_dirs(harbor.SUITE_DIR) if d.name in names]
    graded = {}
    for plan in ("ref", "noop"):
        out = tmp_path / plan
        with FakeServer(responder=Solver(dirs, plan)) as server:
            done = batch(out, server, "--dataset", harbor.SUITE_NAME, "--ids", ",".join(names), "--strategy",
                         "best_of_n", "-c", "scaling.n=2", "--workers", "2", "--ray", ray_cluster.address)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in out.glob("tasks/*/*.reward.json")) == sorted(["g0-r0.reward.json", "g0-r1.reward.json"] * 2)
        evaluated = subprocess.run([sys.executable, "-m", "codescale.eval.cli", "evaluate", str(out)],
                                   capture_output=True, text=True, timeout=600)
        assert evaluated.returncode == 0, evaluated.stderr
        graded[plan] = rewards(out)
        assert run_containers(docker_client, out) == []
    assert graded == {"ref": dict.fromkeys(names, 1.0), "noop": dict.fromkeys(names, 0.0)}
