"""Small saved runs for the compare / select / report tests: calc tasks on the local sandbox, every model call
answered by the fake server (ScalingScript), and eval.jsonl written from each rollout's plan (the `fix` plan
resolves, no other does), so that grades are known without the harness."""

from __future__ import annotations

import re
from pathlib import Path

from codescale.agent.records import Task, Trajectory
from codescale.agent.files import write_atomic
from conftest import CALC_FILES, make_repo
from codescale.eval.runs.config import RunConfig
from codescale.eval.tasks.grading import CandidateGrade, TaskGrade
from codescale.eval.runs.rundir import RunDir
from codescale.eval.runs.solve import solve
from codescale.scaling.records import TaskResult
from fake_server import FakeServer
from scaling_script import JUDGE, SUMMARIZER, ScalingScript

COMMANDS = {
    "fix": ["sed -i 's/a - b/a + b/' calc/ops.py", "PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider 2>&1 | tail -1"],
    "wrong": ["sed -i 's/a \\* b/a + b/' calc/ops.py"],
    "other": ["sed -i 's/return a \\* b/return b * a/' calc/ops.py"],
    "empty": [],
}


def calc_tasks(root: Path, count: int) -> list[Task]:
    repo, commit = make_repo(root / "calc-repo", CALC_FILES)
    return [Task(instance_id=f"calc-{i}", problem_statement=f"Issue {i}: add() subtracts instead of adding.",
                 repo_dir=str(repo), base_commit=commit) for i in range(count)]


def make_run(server, out: Path, tasks: list[Task], plans: dict[str, list[str]], script_class=ScalingScript,
             commands: dict[str, list[str]] = COMMANDS, **scaling) -> tuple[RunDir, ScalingScript]:
    """Solve each task with `plans[instance_id]` (one plan per rollout, in order); rollouts run one at a time."""
    script = script_class([p for t in tasks for p in plans[t.instance_id]], commands)
    server.responder = script
    config = RunConfig.model_validate({
        "model": {"id": "openai/fake", "base_url": server.openai_url, "retries": {"attempts": 1}},
        "sandbox": {"kind": "local"},
        "scaling": {"concurrency": 1, **scaling},
    })
    run = RunDir(out)
    run.path.mkdir(parents=True)
    run.write_config(config.model_dump(mode="json"), out.name)
    for task in tasks:
        solve(task, config, run, out.name)
    return run, script


def plan_of(traj: Trajectory) -> str:
    return re.match(r"PLAN (\w+)", traj.steps[0].response).group(1) if traj.steps else "empty"


def grade_by_plan(run: RunDir) -> list[TaskGrade]:
    """eval.jsonl as `evaluate --all-candidates` would write it, with `fix` rollouts the only resolving ones."""
    grades = []
    for result in (TaskResult.model_validate_json(line) for line in run.results_path.read_text().splitlines()):
        folder = run.path / "tasks" / result.instance_id
        candidates = []
        for generation, ids in enumerate(result.rollouts):
            for rid in ids:
                ok = plan_of(Trajectory.load(folder / f"{rid}.traj.json")) == "fix"
                candidates.append(CandidateGrade(rollout_id=rid, generation=generation, resolved=ok,
                                                 failed_tests=[] if ok else ["tests/test_ops.py::test_add"]))
        final = {c.rollout_id: c for c in candidates}[result.final_rollout]
        grades.append(TaskGrade(instance_id=result.instance_id, final_rollout=result.final_rollout,
                                resolved=final.resolved, failed_tests=final.failed_tests, candidates=candidates,
                                passed=sum(c.resolved for c in candidates), total=len(candidates)))
    write_atomic(run.path / "eval.jsonl", "".join(g.model_dump_json() + "\n" for g in grades))
    return grades


PDR_PLANS = {
    "calc-0": ["fix", "wrong", "empty", "other"] + ["wrong", "fix", "other", "fix"],
    "calc-1": ["wrong", "other", "wrong", "empty"] + ["other", "wrong", "fix", "wrong"],
}
"""A pdr+rtv run's plans: generation 0, then the refined generation, of each task."""


def pdr_run(root: Path) -> tuple[RunDir, list[list[dict]]]:
    """A graded pdr+rtv run of two calc tasks (n=4, 2 votes, k=2) in `root/pdr`, and the messages of every agent
    request the fake server answered, in order."""
    with FakeServer() as server:
        run, _ = make_run(server, root / "pdr", calc_tasks(root, 2), PDR_PLANS, strategy="pdr+rtv", n=4,
                          rtv={"votes": 2}, pdr={"k": 2})
    grade_by_plan(run)
    agent = [r.json["messages"] for r in server.requests if r.path.endswith("/chat/completions")
             and not r.json["messages"][0]["content"].startswith((JUDGE, SUMMARIZER))]
    return run, agent
