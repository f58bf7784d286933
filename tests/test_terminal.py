"""Terminal-Bench tasks (Harbor format) end to end: the bundled suite and a task in the public Terminal-Bench 2
layout, run through the CLI against the fake model server, graded in their containers in real Docker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import BASE_IMAGE
from fake_server import FakeServer
from scaling_script import candidate_blocks

from codescale.eval.tasks import harbor
from codescale.eval.tasks.kinds.container_sandbox import CAPABILITIES
from codescale.eval.tasks.load import load_tasks

TB2_TASK = Path(__file__).parent / "data" / "terminal_bench_2" / "hello-world"
SUBMIT = "echo CODESCALE_SUBMIT"
JUDGE, SUMMARIZER = "You review attempts", "You summarize one attempt"


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codescale.eval.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def run_args(server: FakeServer, out: Path) -> list[str]:
    return ["--model", "openai/fake", "--base-url", server.openai_url, "--out", str(out)]


class Solver:
    """Plays the agent: a rollout's first reply runs its task's reference solve.sh (plan `ref`), `true` (plan
    `noop`) or submits at once (plan `none`), the next submits. With `alternate`, the rollouts of each task take
    `ref` and `other` in turn.
    Plays summarizer (`WORKS` for `ref` rollouts) and judge (picks the candidate whose summary says `WORKS`)."""

    def __init__(self, dirs: list[Path], plan: str = "ref", alternate: bool = False, other: str = "noop"):
        self.solutions = {(d / "instruction.md").read_text().strip(): (d / "solution" / "solve.sh").read_text()
                          for d in dirs}
        self.plan, self.alternate, self.other = plan, alternate, other
        self.started: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> str:
        messages = body["messages"]
        system, prompt = messages[0]["content"], messages[-1]["content"]
        if system.startswith(JUDGE):
            blocks = candidate_blocks(prompt)
            best = next((i for i, block in enumerate(blocks, 1) if "WORKS" in block), 1)
            return f"ANSWER: {best}"
        if system.startswith(SUMMARIZER):
            works = "PLAN ref" in prompt
            return f"## Understanding\nThe task.\n\n## Final state\nSubmitted. {'WORKS' if works else 'Did nothing.'}"
        if len(messages) > 2:
            return f"Done.\n```bash\n{SUBMIT}\n```"
        instruction, solution = next((i, s) for i, s in self.solutions.items() if i in messages[1]["content"])
        plan = self.plan
        if self.alternate:
            with self.lock:
                count = self.started[instruction] = self.started.get(instruction, -1) + 1
            plan = "ref" if count % 2 == 0 else self.other
        if plan == "none":
            return f"Nothing to do.\n```bash\n{SUBMIT}\n```"
        command = solution if plan == "ref" else "true"
        return f"PLAN {plan}.\n```bash\n{command.strip()}\n```"


def rewards(out: Path) -> dict[str, float | None]:
    return {row["instance_id"]: row["reward"] for row in map(json.loads, (out / "eval.jsonl").read_text().splitlines())}


def test_a_task_in_the_public_terminal_bench_2_layout_loads_unchanged():
    [task] = load_tasks(str(TB2_TASK))
    assert task.instance_id == "hello-world" and task.kind == "container" and not task.takes_diff
    assert task.problem_statement.startswith("Create a file called hello.txt in /app")
    assert task.workdir == "/app" and task.image.startswith("codescale-tasks/hello-world:")
    assert task.verifier_timeout == 900.0 and task.agent_timeout == 900.0
    assert [t.instance_id for t in load_tasks(str(TB2_TASK.parent))] == ["hello-world", "notes-v2-1", "personal-site"]


def test_the_bundled_suite_has_eight_tasks_each_with_a_reference_solution():
    tasks = load_tasks(harbor.SUITE_NAME)
    assert len(tasks) >= 8
    for task in tasks:
        folder = Path(task.task_dir)
        assert (folder / "solution" / "solve.sh").is_file() and (folder / "tests" / "test.sh").is_file()


def test_a_task_without_tests_is_refused_naming_the_file(tmp_path):
    folder = tmp_path / "broken"
    (folder / "environment").mkdir(parents=True)
    (folder / "instruction.md").write_text("Do it.\n")
    (folder / "task.toml").write_text('version = "1.0"\n')
    (folder / "environment" / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(ValueError, match="task broken: field 'tests/test.sh': missing"):
        load_tasks(str(folder))


@pytest.mark.parametrize("shown, blocks", [("summary", {"summary"}), ("summary+diff", {"summary", "commands"}),
                                            ("trajectory", {"trajectory"})])
def test_a_container_tasks_judge_shows_what_judge_input_names(shown, blocks, fake_server):
    """Like a patch task's: the summary, the summary and the commands with their last outputs, or the trajectory."""
    from codescale.agent.records import Step, Trajectory
    from codescale.eval.runs.config import RunConfig
    from codescale.scaling.judge import Judge
    from codescale.scaling.records import Summary

    [task] = load_tasks(str(TB2_TASK))
    config = task.overlay(RunConfig.model_validate({"model": {"id": "openai/fake", "base_url": fake_server.openai_url},
                                                    "scaling": {"judge": {"input": shown}}}))
    trajs = {rid: Trajectory(task_id=task.instance_id, rollout_id=rid, model="fake", exit_status="submitted", steps=[
        Step(index=0, response="Write it.", action=f"echo {rid} > hello.txt", observation="", returncode=0),
        Step(index=1, response="Done.", action=SUBMIT, observation="", returncode=0)]) for rid in ("a", "b")}
    summaries = {rid: Summary(task_id=task.instance_id, rollout_id=rid, final_state=f"{rid}: wrote hello.txt")
                 for rid in trajs}
    outcomes = {rid: task.outcome_text(t) for rid, t in trajs.items()}
    system, user = Judge(config.scaling.judge, config.model).messages(task, ["a", "b"], summaries, outcomes, trajs)
    assert system["content"].startswith("You review attempts by agents at the same task in a Linux container")
    key = re.search(r"^<candidate-([0-9a-f]{12}) number=", user["content"], flags=re.M).group(1)  # the request's key
    for name in ("summary", "commands", "trajectory"):
        assert len(re.findall(rf"^<{name}-{key}>$", user["content"], flags=re.M)) == (2 if name in blocks else 0), name
    assert ("$ echo a > hello.txt" in user["content"]) == (shown != "summary")


def make_task(root: Path, test_sh: str, verifier_timeout: float = 60.0) -> Path:
    """A Harbor task directory on the local base image whose tests/test.sh is `test_sh`."""
    folder = root / "probe"
    (folder / "environment").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "instruction.md").write_text("Probe the verifier.\n")
    (folder / "task.toml").write_text(f'version = "1.0"\n\n[verifier]\ntimeout_sec = {verifier_timeout}\n\n'
                                      '[environment]\ncpus = 64\nmemory_mb = 512\n')
    (folder / "environment" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nWORKDIR /app\n")
    (folder / "tests" / "test.sh").write_text(test_sh)
    return folder


def verified(folder: Path, before: str = "true"):
    """The Reward of a container in which `before` ran (as the agent would have), and the sandbox settings used."""
    from codescale.agent.records import Trajectory
    from codescale.agent.rollout import open_sandbox
    from codescale.eval.runs.config import RunConfig
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.verifier import verify

    [task] = load_tasks(str(folder))
    ensure_image(task)
    settings = task.overlay(RunConfig(sandbox={"kind": "docker"})).sandbox
    traj = Trajectory(task_id=task.instance_id, rollout_id="r0", model="none")
    with open_sandbox(task, settings, run_id="test-terminal", name="probe") as sandbox:
        assert sandbox.execute(before).returncode == 0
        return verify(sandbox, traj, Path(task.task_dir) / "tests", task.verifier_timeout, task.verifier_env), settings


@pytest.mark.slow
def test_the_verifier_reads_reward_json_and_ignores_a_reward_the_agent_planted(docker_client, base_image, tmp_path):
    test_sh = '#!/bin/bash\necho "cwd=$PWD"; ls /tests\necho \'{"reward": 0.5}\' > /logs/verifier/reward.json\n'
    folder = make_task(tmp_path, test_sh)
    planted = "mkdir -p /logs/verifier /tests && echo 1 > /logs/verifier/reward.txt && touch /tests/planted"
    reward, settings = verified(folder, planted)
    assert reward.reward == 0.5 and reward.error == "" and reward.returncode == 0
    assert reward.output == "cwd=/app\ntest.sh\n"
    assert settings == {"kind": "docker", "memory": "512m", "cpus": float(os.cpu_count()), "network": "bridge",
                        "cap_drop": ["ALL"], "cap_add": list(CAPABILITIES), "no_new_privileges": True, "env": {}}


@pytest.mark.slow
def test_tests_past_the_verifier_timeout_score_0(docker_client, base_image, tmp_path):
    folder = make_task(tmp_path, "#!/bin/bash\nsleep 30\necho 1 > /logs/verifier/reward.txt\n", verifier_timeout=2)
    reward, _ = verified(folder)
    assert reward.reward == 0.0 and reward.timed_out
    assert reward.error == "test.sh ran past the verifier timeout (2 s)"


@pytest.mark.slow
def test_tests_that_write_no_reward_give_none_with_the_reason(docker_client, base_image, tmp_path):
    reward, _ = verified(make_task(tmp_path, "#!/bin/bash\nexit 3\n"))
    assert reward.reward is None and reward.returncode == 3
    assert reward.error == "test.sh wrote neither /logs/verifier/reward.txt nor reward.json"


@pytest.mark.slow
def test_reference_solutions_score_1_and_empty_attempts_0_through_the_cli(docker_client, base_image, tmp_path):
    dirs = harbor.task_dirs(harbor.SUITE_DIR)
    names = sorted(d.name for d in dirs)
    for plan, expected in (("ref", 1.0), ("noop", 0.0)):
        out = tmp_path / plan
        with FakeServer(responder=Solver(dirs, plan)) as server:
            done = cli("batch", "--dataset", harbor.SUITE_NAME, "--strategy", "single", "--base-image", BASE_IMAGE,
                       "--workers", "2", "--no-live", *run_args(server, out))
        assert done.returncode == 0, done.stderr[-3000:]
        graded = cli("evaluate", str(out))
        assert graded.returncode == 0, graded.stderr[-3000:]
        assert rewards(out) == {name: expected for name in names}, graded.stdout


@pytest.mark.slow
def test_the_public_layout_task_runs_unchanged_with_codescale_run(docker_client, base_image, tmp_path, monkeypatch):
    monkeypatch.setenv("CODESCALE_BASE_IMAGE", BASE_IMAGE)
    out = tmp_path / "run"
    with FakeServer(responder=Solver([TB2_TASK])) as server:
        done = cli("run", "--task", str(TB2_TASK), *run_args(server, out))
        assert done.returncode == 0, done.stderr[-3000:]
        # the tests were not in the container while the agent worked
        first = server.requests[0].json["messages"][1]["content"]
        assert "/tests" not in first and "test_outputs" not in first
    graded = cli("evaluate", str(out))
    assert graded.returncode == 0, graded.stderr
    assert rewards(out) == {"hello-world": 1.0}
    saved = json.loads((out / "tasks" / "hello-world" / "g0-r0.reward.json").read_text())
    assert saved["reward"] == 1.0 and saved["returncode"] == 0


def test_a_rollout_that_ran_no_command_is_left_out_of_the_pick_saying_so(docker_client, base_image, tmp_path):
    dirs = [d for d in harbor.task_dirs(harbor.SUITE_DIR) if d.name == "log-5xx"]
    out = tmp_path / "run"
    with FakeServer(responder=Solver(dirs, alternate=True, other="none")) as server:
        done = cli("batch", "--dataset", harbor.SUITE_NAME, "--ids", "log-5xx", "--strategy", "best_of_n",
                   "-c", "scaling.n=2", "-c", "scaling.concurrency=1", "--base-image", BASE_IMAGE, "--no-live",
                   *run_args(server, out))
    assert done.returncode == 0, done.stderr[-3000:]
    selection = json.loads((out / "tasks" / "log-5xx" / "selection.json").read_text())
    assert selection["candidates"] == ["g0-r0"] and selection["dropped"] == {"g0-r1": "ran no command"}


@pytest.mark.slow
def test_pdr_rtv_over_the_bundled_suite_then_evaluate_select_compare_and_report(docker_client, base_image, tmp_path):
    dirs = harbor.task_dirs(harbor.SUITE_DIR)
    out, again = tmp_path / "pdr", tmp_path / "again"
    with FakeServer(responder=Solver(dirs, alternate=True)) as server:
        done = cli("batch", "--dataset", harbor.SUITE_NAME, "--strategy", "pdr+rtv", "--base-image", BASE_IMAGE,
                   "--workers", "2", "--no-live", "-c", "scaling.n=2", "-c", "scaling.pdr.k=1",
                   "-c", "scaling.rtv.votes=2", "-c", "scaling.concurrency=2", *run_args(server, out))
        assert done.returncode == 0, done.stderr[-3000:]
        judged = [r.json["messages"][-1]["content"] for r in server.requests
                  if r.json["messages"][0]["content"].startswith(JUDGE)]
        assert judged and all(len(candidate_blocks(prompt)) == 2 for prompt in judged)
        assert all("Its commands and final outputs:" not in prompt for prompt in judged)  # judge.input: summary
        graded = cli("evaluate", str(out), "--all-candidates")
        assert graded.returncode == 0, graded.stderr[-3000:]
        reselected = cli("select", str(out), "--out", str(again), "--strategy", "rtv", "--base-url", server.openai_url)
        assert reselected.returncode == 0, reselected.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert len(rows) == len(dirs)
    for row in rows:  # per task and generation, one rollout ran the reference (reward 1), one did nothing (0)
        assert sorted(c["reward"] for c in row["candidates"]) == [0.0, 0.0, 1.0, 1.0], row
        assert row["resolved"] and row["reward"] == 1.0, row  # the judge followed the WORKS summary
    assert all(row["reward"] == 1.0 for row in map(json.loads, (again / "eval.jsonl").read_text().splitlines()))
    compared = cli("compare", str(out), str(again), "--json")
    assert compared.returncode == 0, compared.stderr
    runs = json.loads(compared.stdout)["runs"]
    assert [r["tasks"] for r in runs] == [len(dirs)] * 2 and runs[0]["resolved"]["value"] == 1.0
    assert runs[0]["pass_at_1"]["value"] == 0.5 and runs[0]["oracle"]["value"] == 1.0
    report = tmp_path / "report.html"
    made = cli("report", str(out), str(again), "-o", str(report))
    assert made.returncode == 0, made.stderr
    assert "sales-totals" in report.read_text()
