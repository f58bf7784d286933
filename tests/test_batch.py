"""`codescale batch` as a user runs it: a real process, the fake model server, the bundled suite in real Docker."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import BASE_IMAGE
from fake_server import FakeServer
from scaling_script import ScalingScript

from codescale.agent.records import Trajectory
from codescale.eval.tasks.dataset import load_rows
from codescale.eval.tasks.grading import CandidateGrade, TaskGrade
from codescale.eval.analysis.metrics import compute
from codescale.eval.tasks.grading import judge_picks
from codescale.eval.runs.rundir import RunDir
from codescale.eval.tasks.swebench import image_name
from codescale.eval.tasks.load import load_tasks
from codescale.sandboxes.docker import remove_containers
from codescale.scaling.records import Match, Round, Selection

SUITE = ["codescale__confkit-1", "codescale__eventbus-1", "codescale__invoicer-1", "codescale__jobsched-1"]
VERIFIED_IDS = [
    "astropy__astropy-12907", "django__django-11099", "sympy__sympy-20590", "scikit-learn__scikit-learn-13142",
    "sphinx-doc__sphinx-8721", "matplotlib__matplotlib-24149", "psf__requests-2317", "pydata__xarray-4094",
    "pylint-dev__pylint-7080", "pytest-dev__pytest-5227", "mwaskom__seaborn-3190", "pallets__flask-5014",
]


def batch_args(out: Path, server: FakeServer, *extra: str, model: str = "openai/fake") -> list[str]:
    return [
        sys.executable, "-m", "codescale.eval.cli", "batch", "--model", model, "--base-url", server.openai_url,
        "--base-image", BASE_IMAGE, "--out", str(out), "--no-live", *extra,
    ]


def batch(out: Path, server: FakeServer, *extra: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(batch_args(out, server, *extra, **kwargs), capture_output=True, text=True, timeout=300)


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def run_containers(docker_client, out: Path) -> list:
    run_id = yaml.safe_load((out / "run.yaml").read_text())["run_id"]
    # the low-level listing: a container the engine is still removing must not make it fail
    return docker_client.api.containers(all=True, filters={"label": f"codescale.run_id={run_id}"})


def test_image_names_match_the_swebench_harness():
    from swebench.image_builder.image_spec import ImageSpec
    from swebench.task.checks import expected_image

    for instance_id in VERIFIED_IDS:
        official = ImageSpec(instance_id=instance_id, dockerfile="FROM scratch", namespace="swebench").name
        assert image_name(instance_id) == official == expected_image(instance_id)
    assert image_name("django__django-11099") == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    assert image_name("Foo__Bar-1", namespace="mirror") == "mirror/sweb.eval.x86_64.foo_1776_bar-1:latest"


def test_rows_without_an_image_get_the_official_one_in_the_chosen_namespace(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"instance_id": "django__django-11099", "problem_statement": "x"},
            {"instance_id": "own__task-1", "problem_statement": "y", "image": "own/image:1"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_rows(str(path), namespace="mirror")
    assert [t.image for t in loaded] == ["mirror/sweb.eval.x86_64.django_1776_django-11099:latest", "own/image:1"]


def test_judge_accuracy_counts_only_mixed_groups():
    def match(candidates, winner, bye=False):
        return Match(candidates=candidates, winners=[winner], bye=bye)

    selection = Selection(rounds=[
        Round(index=0, matches=[match(["a", "b"], "a"), match(["c", "d"], "d"), match(["e", "f"], "e"),
                                match(["g"], "g", bye=True)]),
        Round(index=1, matches=[match(["a", "d"], "d"), match(["e", "g"], "g")]),
    ])
    resolved = {"a": True, "b": False, "c": True, "d": False, "e": False, "f": False, "g": True}
    # mixed: (a,b) picked a ✓; (c,d) picked d ✗; (a,d) picked d ✗; (e,g) picked g ✓; (e,f) all unresolved; (g) bye
    assert judge_picks([selection], resolved) == [True, False, False, True]
    grades = [TaskGrade(instance_id="t", judge_picks=[True, False, False, True],
                        candidates=[CandidateGrade(rollout_id="a", resolved=True)])]
    assert compute(grades).judge_accuracy.value == 0.5 and compute(grades).judge_accuracy.n == 4


SUBMIT = "Done.\n```bash\necho CODESCALE_SUBMIT\n```"


def test_a_changed_config_is_refused_on_resume_and_harmless_changes_are_not(docker_client, tmp_path):
    out = tmp_path / "run"
    with FakeServer(responder=lambda body: SUBMIT) as server:
        first = batch(out, server, "--dataset", "codescale", "--ids", SUITE[0])
        assert first.returncode == 0, first.stderr
        changed = batch(out, server, "--dataset", "codescale", "-c", "scaling.n=3", "-c", "agent.step_limit=7")
        assert changed.returncode == 2
        [line] = changed.stderr.splitlines()
        assert "was run with a different configuration; resuming would mix incompatible results" in line
        assert "Differs: agent.step_limit: 100 -> 7; scaling.n: 16 -> 3." in line
        harmless = batch(out, server, "--dataset", "codescale", "--ids", SUITE[0], "--workers", "3",
                         "--max-tokens", "100000", "-c", "model.timeout=30")
        assert harmless.returncode == 0, harmless.stderr
        assert "1 tasks, 1 finished earlier, 0 to run" in harmless.stderr
    assert len(results(out)) == 1 and len(server.requests) == 1


@pytest.mark.slow
def test_a_bad_row_and_a_missing_image_fail_alone(docker_client, tmp_path):
    tasks = load_tasks(ids=SUITE[:2], base_image=BASE_IMAGE)
    rows = [json.loads(t.model_dump_json()) for t in tasks]
    rows.insert(1, {"instance_id": "broken__row-1", "repo": "x/y"})  # no problem_statement
    ghost = dict(rows[0], instance_id="ghost__image-1", image="codescale-test/none:404")
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + [ghost]) + '{"instance_id": "torn__row-2", "pro\n')
    out = tmp_path / "run"
    with FakeServer(responder=lambda body: SUBMIT) as server:
        done = batch(out, server, "--dataset", str(path), "--workers", "2")
    assert done.returncode == 1, done.stderr
    by_id = {r["instance_id"]: r for r in results(out)}
    assert sorted(by_id) == sorted(SUITE[:2] + ["broken__row-1", "ghost__image-1", "torn__row-2"])
    assert [by_id[i]["status"] for i in SUITE[:2]] == ["done", "done"]
    assert by_id["broken__row-1"]["error"] == "task broken__row-1: field 'problem_statement': missing (required)"
    assert by_id["torn__row-2"]["status"] == "error" and "torn__row-2" in by_id["torn__row-2"]["error"]
    assert "ghost__image-1" in by_id["ghost__image-1"]["error"]
    assert "codescale-test/none:404" in by_id["ghost__image-1"]["error"]
    assert len((out / "preds.jsonl").read_text().splitlines()) == 5
    assert done.stderr.splitlines()[-1].startswith("5 tasks: 2 submitted, 3 failed (3 task error); spent ")


@pytest.mark.slow
def test_max_cost_stops_every_model_call_at_the_budget(docker_client, tmp_path):
    out = tmp_path / "run"
    script = "Looking.\n```bash\nls\n```", "Done.\n```bash\necho CODESCALE_SUBMIT\n```"

    def responder(body):
        return script[min(1, (len(body["messages"]) - 2) // 2)]

    budget = 0.0003
    with FakeServer(responder=responder) as server:
        stopped = batch(out, server, "--dataset", "codescale", "--ids", ",".join(SUITE), "--max-cost", str(budget),
                        model="openai/gpt-5-mini")
        assert stopped.returncode == 3, stopped.stderr
        assert "stopped by the budget (cost budget reached" in stopped.stderr.splitlines()[-1]
        costs = [r["usage"]["rollouts"]["cost_usd"] for r in results(out)]
        calls = [line["cost_usd"] for line in map(json.loads, (out / "usage.jsonl").read_text().splitlines())]
        spent = sum(calls)
        assert spent >= sum(costs)  # the finished tasks, and the calls of the task the budget stopped
        assert budget <= spent <= budget + max(calls)  # no call started past the budget: one worker, one in flight
        assert 0 < len(costs) < len(SUITE)
        assert f"spent ${spent:.4f}" in stopped.stderr.splitlines()[-1]
        # a larger budget resumes: the remaining tasks run, none twice
        resumed = batch(out, server, "--dataset", "codescale", "--ids", ",".join(SUITE), "--max-cost", "1",
                        model="openai/gpt-5-mini")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(r["instance_id"] for r in results(out)) == sorted(SUITE)


@pytest.mark.slow
def test_global_cap_on_model_requests(docker_client, tmp_path):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def responder(body):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.3)
        with lock:
            in_flight[0] -= 1
        return "Done.\n```bash\necho CODESCALE_SUBMIT\n```"

    with FakeServer(responder=responder) as server:
        capped = batch(tmp_path / "a", server, "--dataset", "codescale", "--ids", ",".join(SUITE[:3]), "--workers", "3",
                       "--strategy", "best_of_n", "-c", "scaling.n=2", "--max-requests", "1")
        assert capped.returncode == 0, capped.stderr
        assert (peak[0], len(server.requests)) == (1, 6)
        peak[0] = 0
        free = batch(tmp_path / "b", server, "--dataset", "codescale", "--ids", ",".join(SUITE[:3]), "--workers", "3",
                     "--strategy", "best_of_n", "-c", "scaling.n=2")
        assert free.returncode == 0, free.stderr
        assert peak[0] >= 3


def finished_trajectories(out: Path) -> dict[str, tuple[int, bytes]]:
    """Path -> (mtime, content) of every trajectory whose rollout finished."""
    found = {}
    for path in out.glob("tasks/*/*.traj.json"):
        if Trajectory.load(path).exit_status is not None:
            found[str(path)] = (path.stat().st_mtime_ns, path.read_bytes())
    return found


@pytest.mark.slow
def test_killed_runs_resume_with_every_task_once_and_no_rollout_rerun(docker_client, tmp_path, request):
    """A fleet of rollouts (fixes, failures, command timeouts, model errors) under RTV; the run is killed with
    SIGKILL three times, each a seeded random number of model requests (and a random fraction of a quarter second:
    a resumed run's judges answer dozens of requests a second, so a longer wait can reach the run's end) into a
    session, restarted each time, then finishes."""
    commands = {"fix": ["date +%N >> README.md"], "fail": ["false"], "timeout": ["sleep 30"]}
    fleet = ScalingScript(["fix", "fail", "timeout", "crash", "fix"] * 40, commands)
    out = tmp_path / "run"
    rng = random.Random(6)
    args = ("--dataset", "codescale", "--ids", ",".join(SUITE[:3]), "--strategy", "rtv", "-c", "scaling.n=4",
            "-c", "scaling.concurrency=2", "-c", "scaling.rtv.votes=2", "-c", "sandbox.timeout=2",
            "-c", "model.retries.attempts=1", "--workers", "2")
    kept: dict[str, tuple[int, bytes]] = {}
    leftovers = []
    request.addfinalizer(lambda: remove_containers(yaml.safe_load((out / "run.yaml").read_text())["run_id"])
                         if (out / "run.yaml").exists() else None)  # when the test fails midway
    with FakeServer(responder=fleet) as server:
        for _ in range(3):
            target = len(server.requests) + rng.randint(3, 9)
            proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while len(server.requests) < target and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.25))
            assert proc.poll() is None, "the run ended before its kill point"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert len(RunDir(out).results()) < 3, "killed after the last task finished"
            leftovers.append(len(run_containers(docker_client, out)))
            kept.update(finished_trajectories(out))
        final = batch(out, server, *args)
    assert final.returncode == 0, final.stderr
    assert sorted(r["instance_id"] for r in results(out)) == sorted(SUITE[:3])  # each exactly once
    assert len((out / "preds.jsonl").read_text().splitlines()) == 3
    now = finished_trajectories(out)
    assert kept, "no rollout finished before the kills"
    assert all(now[path] == before for path, before in kept.items()), "a finished rollout was run again"
    statuses = {s for r in results(out) for s in r["exit_statuses"].values()}
    assert {"submitted", "model_error"} <= statuses
    assert any(leftovers), "no kill left a container: the cleanup at the next start went untested"
    assert run_containers(docker_client, out) == []


@pytest.mark.slow
def test_evaluate_prints_judge_accuracy_on_mixed_groups(docker_client, base_image, tmp_path):
    from test_grading import UNRELATED, write_run
    from typer.testing import CliRunner

    from codescale.agent.files import write_atomic
    from codescale.eval.cli.main import app

    [task] = load_tasks(ids=["codescale__slugkit-1"], base_image=base_image)
    run = write_run(tmp_path, [task], [UNRELATED], rollouts={task.instance_id: [[task.patch, UNRELATED, UNRELATED]]})
    # the judge preferred the unrelated patch over the gold one; the second match was between two unresolved
    selection = Selection(rounds=[Round(index=0, matches=[
        Match(candidates=["g0r0", "g0r1"], winners=["g0r1"]), Match(candidates=["g0r1", "g0r2"], winners=["g0r2"]),
    ])])
    write_atomic(run.make_task_dir(task.instance_id) / "selection.json", selection.model_dump_json())
    done = CliRunner().invoke(app, ["evaluate", str(tmp_path), "--all-candidates", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert "judge accuracy on mixed groups (picked a resolved candidate): 0.0% [0.0, 0.0] (n=1) groups" in done.output
    assert json.loads((tmp_path / "eval.jsonl").read_text())["judge_picks"] == [False]
