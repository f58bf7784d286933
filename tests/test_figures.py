"""The method's figures in `compare` (judge accuracy per stage, per-generation steps, diversity, movement),
each checked against a count by hand from a scripted pdr+rtv run whose truth is known (`fix` resolves)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from codescale.agent.records import Trajectory
from codescale.eval.cli.main import app
from codescale.eval.runs.rundir import RunDir
from fake_server import FakeServer
from saved_runs import calc_tasks, grade_by_plan, make_run, plan_of

PLANS = {
    "calc-0": ["fix", "wrong", "empty", "other"] + ["wrong", "fix", "other", "empty"],
    "calc-1": ["wrong", "other", "wrong", "empty"] + ["other", "wrong", "fix", "wrong"],
    "calc-2": ["fix", "fix", "wrong", "other"] + ["wrong", "empty", "other", "wrong"],
}
STEPS = {"fix": 3, "wrong": 2, "other": 2, "empty": 1}
"""Steps of a rollout per plan: its commands, then the submit command."""


@pytest.fixture(scope="module")
def pdr_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    with FakeServer() as server:
        run, _ = make_run(server, root / "pdr", calc_tasks(root, 3), PLANS, strategy="pdr+rtv", n=4,
                          rtv={"votes": 2}, pdr={"k": 2})
    grade_by_plan(run)
    return run.path


def test_per_generation_figures_match_the_plans(pdr_run):
    shown = CliRunner().invoke(app, ["compare", str(pdr_run), "--json"])
    assert shown.exit_code == 0, shown.output
    g0, g1 = json.loads(shown.output)["runs"][0]["figures"]["generations"]
    gen = lambda g: {t: PLANS[t][4 * g: 4 * g + 4] for t in PLANS}  # noqa: E731
    for row, plans in ((g0, gen(0)), (g1, gen(1))):
        assert row["rollouts"] == 12
        assert row["steps_per_rollout"] == pytest.approx(sum(STEPS[p] for ps in plans.values() for p in ps) / 12)
        assert row["pass_at_1"] == pytest.approx(sum(ps.count("fix") / 4 for ps in plans.values()) / 3)
        distinct = [len({p for p in ps if p != "empty"}) / 4 for ps in plans.values()]
        assert row["diversity"] == pytest.approx(sum(distinct) / 3)
    assert g0["steps_per_rollout"] == pytest.approx(25 / 12) and g1["steps_per_rollout"] == pytest.approx(2.0)
    assert (g0["gained"], g0["lost"]) == (None, None)
    assert (g1["gained"], g1["lost"]) == (1, 1)  # calc-1 first solved in generation 1; calc-2 solved only in 0


def test_judge_accuracy_is_split_by_stage(pdr_run):
    run = RunDir.existing(pdr_run)
    hand = {"context": [], "final": []}
    for instance_id in PLANS:
        folder = pdr_run / "tasks" / instance_id
        fixed = {p.name.split(".")[0]: plan_of(Trajectory.load(p)) == "fix" for p in folder.glob("*.traj.json")}
        for selection in run.selections(instance_id):
            for match in (m for r in selection.rounds for m in r.matches if not m.bye):
                if {fixed[c] for c in match.candidates} == {True, False}:
                    hand["final" if selection.stage == "final" else "context"].append(fixed[match.winners[0]])
    shown = CliRunner().invoke(app, ["compare", str(pdr_run), "--json"])
    figures = json.loads(shown.output)["runs"][0]["figures"]
    for stage, picks in hand.items():
        assert picks, stage
        accuracy = figures["judge_accuracy"][stage]
        assert (accuracy["n"], accuracy["value"]) == (len(picks), sum(picks) / len(picks))
    assert figures["judge_input"] == "summary" and figures["invalid_votes"] == 0 and figures["votes"] > 0
    plain = CliRunner().invoke(app, ["compare", str(pdr_run), "--markdown"]).output
    assert "| accuracy: PDR context (groups) |" in plain and "| tasks gained |" in plain
