"""`codescale plan`: counts by construction, checked against what a scripted run of the same configuration asked the
model server for."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from codescale.eval.cli.main import app
from codescale.eval.runs.config import load_config
from codescale.eval.runs.plan import plan
from fake_server import FakeServer
from saved_runs import COMMANDS, calc_tasks, make_run
from scaling_script import ScalingScript, candidate_blocks

NOTES = {f"note{i}": [f"echo '# note {i}' >> calc/ops.py"] for i in range(8)}
"""Plans whose patches all differ."""


class Decisive(ScalingScript):
    """The judge names the candidate with the lowest summary number, whatever the order shown: no match ties."""

    def judge(self, body: dict) -> str:
        numbers = [int(re.search(r"Summary #(\d+)", block).group(1)) for block in candidate_blocks(body["messages"][-1]["content"])]
        return f"ANSWER: {1 + numbers.index(min(numbers))}"


def scripted_counts(root, tasks: int, overrides: list[str], strategy: str) -> tuple[dict, dict]:
    """(what a scripted run over `tasks` calc tasks asked for, what `plan` says for the same configuration)."""
    config = load_config(overrides, {"model.id": "openai/fake"}, strategy=strategy)
    n = config.scaling.n * (config.scaling.pdr.generations + 1 if strategy.startswith("pdr") else 1)
    found = calc_tasks(root, tasks)
    plans = {t.instance_id: (list(NOTES) * 4)[:n] for t in found}
    scaling = config.scaling.model_dump(exclude={"summarizer", "judge"}) | {"judge": {"batch_votes": config.scaling.judge.batch_votes}}
    with FakeServer() as server:
        run, script = make_run(server, root / "run", found, plans, script_class=Decisive,
                               commands={**COMMANDS, **NOTES}, **scaling)
        judge_requests = sum(1 for r in server.requests if r.json["messages"][0]["content"].startswith("You review"))
    results = [json.loads(line) for line in run.results_path.read_text().splitlines()]
    matches = [m for path in (root / "run" / "tasks").glob("*/selection*.json")
               for rnd in json.loads(path.read_text())["rounds"] for m in rnd["matches"]]
    measured = {"rollouts": len(list((root / "run" / "tasks").glob("*/*.traj.json"))),
                "summaries": script.kinds.count("summarizer"), "judge_requests": judge_requests,
                "judge_votes": sum(r["reliability"]["votes"] for r in results)}
    assert all(not m["tie_break"] and not m["identical"] for m in matches)  # as the plan assumes
    total = plan(config, tasks).total
    return measured, {name: getattr(total, name) for name in measured}


@pytest.mark.parametrize("strategy, overrides", [
    ("pdr+rtv", ["scaling.n=4", "scaling.pdr.k=2", "scaling.rtv.votes=2"]),
    ("pdr+rtv", ["scaling.n=4", "scaling.pdr.k=2", "scaling.rtv.votes=2", "scaling.judge.batch_votes=false"]),
    ("rtv", ["scaling.n=5", "scaling.rtv.votes=3"]),
])
def test_the_plan_counts_what_a_scripted_run_asks_for(tmp_path, strategy, overrides):
    measured, planned = scripted_counts(tmp_path, 2, overrides, strategy)
    assert measured == planned


def test_the_paper_configuration_asks_54_judge_requests_per_task_batched_and_216_one_by_one():
    vllm = plan(load_config([], {"model.id": "vllm/Qwen/Qwen3-Coder-30B-A3B-Instruct"}, strategy="pdr+rtv"), 500)
    claude = plan(load_config([], {"model.id": "anthropic/claude-sonnet-4-5"}, strategy="pdr+rtv"), 500)
    # 16 -> 4 (8 + 4 matches) for the context, 16 -> 1 (15 matches) for the answer: 27 matches of 8 votes
    assert (vllm.per_task.matches, vllm.per_task.judge_votes, vllm.per_task.judge_requests) == (27, 216, 54)
    assert (claude.judge_batched, claude.per_task.judge_requests, claude.total.judge_requests) == (False, 216, 108_000)
    assert (vllm.total.rollouts, vllm.total.summaries, vllm.total.judge_requests) == (16_000, 16_000, 27_000)
    assert vllm.phases["total"].cost_usd is None and claude.phases["total"].cost_usd > 0


def test_plan_cli_prints_json_and_refuses_bad_input(tmp_path):
    runner = CliRunner()
    done = runner.invoke(app, ["plan", "--strategy", "rtv", "--tasks", "10", "--model", "openai/gpt-5-mini", "--json"])
    assert done.exit_code == 0, done.output
    found = json.loads(done.output)
    assert found["per_task"]["judge_requests"] == 30 and found["total"]["rollouts"] == 160 and found["judge_batched"]
    for args, message in ((["--tasks", "0"], "--tasks must be at least 1"),
                          (["--tasks", "3", "--strategy", "nosuch"], "unknown strategy 'nosuch'"),
                          (["--tasks", "3", "--from-run", str(tmp_path / "missing")], "missing")):
        bad = runner.invoke(app, ["plan", *args])
        assert bad.exit_code == 2 and message in bad.output and "Traceback" not in bad.output, bad.output


def test_step_figures_measured_in_a_run(tmp_path):
    from codescale.agent.records import Trajectory
    from codescale.eval.runs.plan import from_run

    with FakeServer() as server:
        run, _ = make_run(server, tmp_path / "run", calc_tasks(tmp_path, 2), {"calc-0": ["fix"], "calc-1": ["wrong"]},
                          strategy="single")
    steps = [s for path in sorted((tmp_path / "run" / "tasks").glob("*/*.traj.json")) for s in Trajectory.load(path).steps]
    figures = from_run(tmp_path / "run")
    assert figures.steps == len(steps) / 2 == 2.5
    assert figures.input_tokens == sum(s.usage.input_tokens for s in steps) / len(steps)
    assert figures.seconds == pytest.approx(sum(s.seconds for s in steps) / len(steps))
