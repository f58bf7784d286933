"""Faults injected into a real `codescale batch` process (real Docker, the fake model server over real HTTP).

Each case ends the same way: the run completes (or resumes to completion), every task is in results.jsonl
exactly once, no finished rollout is lost or run again, no container of the run is left, and the rollout the
fault hit names it in its record."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path

import pytest
from fake_server import FakeServer
from scaling_script import ScalingScript
from test_batch import SUITE, batch, batch_args, finished_trajectories, results, run_containers

from codescale.agent.records import Trajectory
from codescale.eval.runs.rundir import RunDir

SLOW_STEP = "Working.\n```bash\nsleep 4; echo slept\n```"
SUBMIT = "Done.\n```bash\necho CODESCALE_SUBMIT\n```"
FAST_RETRIES = ("-c", "model.retries.min_wait=0.2", "-c", "model.retries.max_wait=0.5")


def sleep_then_submit(body: dict) -> str:
    return SLOW_STEP if len(body["messages"]) <= 2 else SUBMIT


def trajectories(out: Path) -> dict[str, Trajectory]:
    return {f"{p.parent.name}/{p.name}": Trajectory.load(p) for p in sorted(out.glob("tasks/*/*.traj.json"))}


def assert_whole(out: Path, ids: list[str], docker_client, retried: int = 0) -> None:
    """Every task in results.jsonl, once per session that ran it (`retried` tasks twice: the last line counts)."""
    lines = [r["instance_id"] for r in results(out)]
    assert sorted(set(lines)) == sorted(ids) and len(lines) == len(ids) + retried
    assert run_containers(docker_client, out) == []


def running(containers: list) -> list:
    """Those of `containers` (the engine's listing) that run: one just created cannot be killed yet."""
    return [c for c in containers if c["State"] == "running"]


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_container_killed_mid_rollout_is_that_rollouts_sandbox_error(docker_client, tmp_path):
    out, ids = tmp_path / "run", SUITE[:2]
    args = ("--dataset", "codescale", "--ids", ",".join(ids), "--strategy", "best_of_n", "-c", "scaling.n=2",
            "--workers", "1")
    with FakeServer(responder=sleep_then_submit) as server:
        proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        wait_for(lambda: (out / "run.yaml").exists() and running(run_containers(docker_client, out)), 120,
                 "a running rollout container")
        victim = running(run_containers(docker_client, out))[0]
        subprocess.run(["docker", "kill", victim["Id"]], check=True, capture_output=True)
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert_whole(out, ids, docker_client)
    trajs = trajectories(out)
    hit = [t for t in trajs.values() if t.exit_status == "sandbox_error"]
    assert len(hit) == 1 and victim["Names"][0].lstrip("/") in hit[0].error
    assert sorted(t.exit_status for t in trajs.values()) == ["sandbox_error"] + ["submitted"] * 3
    assert all(r["status"] == "done" for r in results(out))


@pytest.mark.slow
def test_a_model_server_killed_then_back_is_retried_and_the_run_goes_on(docker_client, tmp_path):
    out, ids = tmp_path / "run", SUITE[:2]
    args = ("--dataset", "codescale", "--ids", ",".join(ids), "--workers", "1", "-c", "model.retries.attempts=20",
            *FAST_RETRIES)
    server = FakeServer(responder=sleep_then_submit).start()
    port = server._http.server_address[1]
    proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(server.requests) >= 1, 120, "the first model request")
        server.stop()  # refused connections from now on, while the first command runs
        time.sleep(6)
        server = FakeServer(responder=sleep_then_submit, port=port).start()
        _, stderr = proc.communicate(timeout=300)
    finally:
        server.stop()
    assert proc.returncode == 0, stderr
    assert_whole(out, ids, docker_client)
    assert [t.exit_status for t in trajectories(out).values()] == ["submitted", "submitted"]


@pytest.mark.slow
def test_a_model_server_gone_for_good_gives_model_errors_that_retry_errors_reruns(docker_client, tmp_path):
    out, ids = tmp_path / "run", SUITE[:3]
    args = ("--dataset", "codescale", "--ids", ",".join(ids), "--workers", "1", "-c", "model.retries.attempts=3",
            *FAST_RETRIES)
    server = FakeServer(responder=sleep_then_submit).start()
    port = server._http.server_address[1]
    proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(server.requests) >= 3, 120, "the first task's last model request")  # task 1 submits
    wait_for(lambda: bool(finished_trajectories(out)), 60, "the first rollout to finish")
    server.stop()
    _, stderr = proc.communicate(timeout=300)
    first = trajectories(out)
    statuses = sorted(t.exit_status for t in first.values())
    assert statuses.count("model_error") >= 1 and "submitted" in statuses, statuses
    failed = [t for t in first.values() if t.exit_status == "model_error"]
    assert all("openai/fake" in t.error for t in failed)
    assert_whole(out, ids, docker_client)
    kept = finished_trajectories(out)
    kept = {path: before for path, before in kept.items() if json.loads(before[1])["exit_status"] == "submitted"}
    with FakeServer(responder=sleep_then_submit, port=port) as back:
        resumed = batch(out, back, *args, "--retry-errors")
    assert resumed.returncode == 0, resumed.stderr
    assert_whole(out, ids, docker_client, retried=len(failed))
    assert {r.status for r in RunDir(out).results().values()} == {"done"}
    assert {t.exit_status for t in trajectories(out).values()} == {"submitted"}
    now = finished_trajectories(out)
    assert all(now[path] == before for path, before in kept.items()), "a finished rollout was run again"


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs (needs root, as in CI); unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk`; returns the file that holds them."""
    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def whole_files(out: Path) -> None:
    """No torn or half-written file: every JSON record in the run directory parses."""
    for path in out.rglob("*.json"):
        json.loads(path.read_text())
    for path in out.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)


@pytest.mark.slow
def test_a_full_disk_is_one_clear_error_and_the_run_resumes_once_there_is_space(docker_client, small_disk):
    out, ids = small_disk / "run", SUITE[:3]
    args = ("--dataset", "codescale", "--ids", ",".join(ids), "--workers", "1")
    with FakeServer(responder=sleep_then_submit) as server:
        proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        wait_for(lambda: (out / "results.jsonl").exists(), 120, "the first task's result")
        filler = fill(small_disk)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode != 0
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "No space left on device" in errors[0] and "to resume" in errors[0], stderr
        assert "Traceback" not in stderr
        whole_files(out)
        assert run_containers(docker_client, out) == []
        kept = finished_trajectories(out)
        filler.unlink()
        resumed = batch(out, server, *args)
    assert resumed.returncode == 0, resumed.stderr
    whole_files(out)
    assert_whole(out, ids, docker_client)
    now = finished_trajectories(out)
    assert all(now[path] == before for path, before in kept.items()), "a finished rollout was run again"


class GarbageJudge(ScalingScript):
    """Plays the agent well, and the summarizer and judge badly: garbage, empty text, or no ANSWER line."""

    BAD = ["%%%% \x00 garbage {{{", "", "Candidate 2 looks best to me, clearly."]

    def __init__(self):
        super().__init__(["fix", "fix", "fail", "fail"] * 5, {"fix": ["date +%N >> README.md"], "fail": ["false"]})
        self.bad = itertools.cycle(self.BAD)

    def summarizer(self, body: dict) -> str:
        return next(self.bad)

    def judge(self, body: dict) -> str:
        return next(self.bad)


@pytest.mark.slow
def test_a_judge_and_summarizer_answering_garbage_still_select_by_the_tie_rule(docker_client, tmp_path):
    out, ids = tmp_path / "run", SUITE[:1]
    args = ("--dataset", "codescale", "--ids", ids[0], "--strategy", "rtv", "-c", "scaling.n=4",
            "-c", "scaling.rtv.votes=3", "-c", "scaling.rtv.tie_rule=first")
    script = GarbageJudge()
    with FakeServer(responder=script) as server:
        done = batch(out, server, *args)
    assert done.returncode == 0, done.stderr
    assert_whole(out, ids, docker_client)
    task_dir = out / "tasks" / ids[0]
    summaries = [json.loads(p.read_text()) for p in sorted(task_dir.glob("*.summary.json"))]
    selection = json.loads((task_dir / "selection.json").read_text())
    # only the bracket's entrants are summarized (duplicate patches merge into one)
    assert sorted(s["rollout_id"] for s in summaries) == sorted(selection["candidates"])
    assert len(summaries) >= 2 and all(s["fallback"] and s["error"] for s in summaries)
    matches = [m for r in selection["rounds"] for m in r["matches"] if not m["bye"]]
    votes = [v for m in matches for v in m["votes"]]
    assert votes and all(v["choice"] is None for v in votes)  # every vote counted, as invalid
    assert all(m["tie_break"] == "first" and m["winners"] == m["candidates"][:1] for m in matches)
    [result] = results(out)
    assert result["final_rollout"] == selection["winners"][0] and result["final_patch"]
