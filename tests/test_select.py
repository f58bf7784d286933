"""`codescale select`: the final selection re-run over saved rollouts (judge only), and selection curves."""

from __future__ import annotations

import json
import os
import re
from math import comb

import pytest
from typer.testing import CliRunner

from codescale.eval.cli.main import app
from codescale.eval.runs.rundir import RunDir
from fake_server import FakeServer
from saved_runs import calc_tasks, grade_by_plan, make_run, plan_of
from codescale.scaling.records import Selection

PLANS = {
    "calc-0": ["fix", "wrong", "empty", "other"] + ["wrong", "fix", "other", "empty"],
    "calc-1": ["wrong", "other", "wrong", "empty"] + ["other", "wrong", "fix", "wrong"],
}


@pytest.fixture(scope="module")
def pdr_run(tmp_path_factory):
    """A graded pdr+rtv run (N=4, K=2, V=2) over two tasks; the server stays up for the judge."""
    root = tmp_path_factory.mktemp("select")
    with FakeServer() as server:
        run, script = make_run(server, root / "pdr", calc_tasks(root, 2), PLANS, strategy="pdr+rtv", n=4,
                               rtv={"votes": 2}, pdr={"k": 2})
        grade_by_plan(run)
        yield run.path, server, script


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reselect_with_more_votes_links_rollouts_and_changes_only_the_votes(pdr_run, tmp_path):
    source, server, script = pdr_run
    before = len(script.kinds)
    out = tmp_path / "v4"
    result = CliRunner().invoke(app, ["select", str(source), "-c", "scaling.rtv.votes=4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 tasks re-selected with pdr+rtv; answer changed on 0;" in result.output
    assert "eval.jsonl written from the old candidate grades" in result.output
    assert set(script.kinds[before:]) == {"judge"}  # no agent, no summarizer

    for instance_id in PLANS:
        old_dir, new_dir = source / "tasks" / instance_id, out / "tasks" / instance_id
        names = sorted(p.name for p in old_dir.iterdir())
        assert sorted(p.name for p in new_dir.iterdir()) == names
        for name in names:
            if name != "selection.json":  # trajectories, summaries, task.json, the PDR context selection
                assert os.path.samefile(old_dir / name, new_dir / name), name
        old = Selection.model_validate_json((old_dir / "selection.json").read_text())
        new = Selection.model_validate_json((new_dir / "selection.json").read_text())
        assert (new.candidates, new.dropped, new.seed) == (old.candidates, old.dropped, old.seed)
        for selection, votes in ((old, 2), (new, 4)):
            for rnd in selection.rounds:
                for match in rnd.matches:
                    if match.identical:  # the same patch on both sides: no judge request
                        assert match.votes == [] and len(match.winners) == 1
                    elif not match.bye:
                        assert len(match.votes) == votes * (2 if match.tie_break else 1)
                        assert match.winners == [max(match.tally, key=match.tally.get)] or match.tie_break
        assert new.winners == old.winners  # the judge prefers the working rollout, whatever the vote count

    old_results = {r["instance_id"]: r for r in lines(source / "results.jsonl")}
    for new in lines(out / "results.jsonl"):
        old = old_results[new["instance_id"]]
        same = {k for k in old if k not in ("selection", "usage", "seconds", "reliability")}
        assert {k: new[k] for k in same} == {k: old[k] for k in same}
        assert new["usage"]["rollouts"] == old["usage"]["rollouts"]
        assert new["usage"]["summaries"] == old["usage"]["summaries"]
        context = Selection.model_validate_json((out / "tasks" / new["instance_id"] / "selection.context-g0.json").read_text())
        assert new["usage"]["judge"]["requests"] == context.usage.requests + new["selection"]["usage"]["requests"]
    assert lines(out / "eval.jsonl") == lines(source / "eval.jsonl")
    config = RunDir.existing(out).config()
    assert (config["command"], config["source"], config["config"]["scaling"]["rtv"]["votes"]) == ("select", str(source), 4)


def test_reselect_with_best_of_n_takes_grades_from_the_candidates_without_model_calls(pdr_run, tmp_path):
    source, server, _ = pdr_run
    before = len(server.requests)
    out = tmp_path / "random"
    result = CliRunner().invoke(app, ["select", str(source), "--strategy", "best_of_n", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(server.requests) == before
    run = RunDir.existing(out)
    for instance_id, result in run.results().items():
        assert result.strategy == "best_of_n" and result.selection.method == "random"
        assert result.final_rollout in result.rollouts[-1]
        final = run.trajectory(instance_id, result.final_rollout)
        assert run.grades()[instance_id].resolved == (plan_of(final) == "fix")
        assert run.grades()[instance_id].final_rollout == result.final_rollout
    again = CliRunner().invoke(app, ["select", str(source), "--strategy", "best_of_n", "--out", str(out)])
    assert again.exit_code == 2 and "already holds results" in again.output


def test_selection_curves_oracle_and_pass_at_1_exact_and_rtv_with_a_perfect_judge_is_the_oracle(pdr_run):
    source, server, script = pdr_run
    result = CliRunner().invoke(app, ["select", str(source), "--curves", "--seeds", "3"])
    assert result.exit_code == 0, result.output
    curves = json.loads((source / "curves.json").read_text())
    assert curves["ns"] == [1, 2, 4] and curves["tasks"] == 2 and curves["seeds"] == 3
    passed = [sum(plan == "fix" for plan in plans[4:]) for plans in PLANS.values()]  # generation 1 is the pool
    assert passed == [1, 1]
    values = curves["values"]
    for n in (1, 2, 4):
        oracle = sum(1 - comb(4 - c, n) / comb(4, n) for c in passed) / 2
        assert values["oracle"][str(n)] == [pytest.approx(oracle)]
        assert values["pass@1"][str(n)] == [0.25]
        assert len(values["random"][str(n)]) == len(values["rtv"][str(n)]) == 3
        # the same subsamples for both methods; the scripted judge always finds the working rollout
        assert all(r >= p for r, p in zip(values["rtv"][str(n)], values["random"][str(n)]))
    assert values["rtv"]["4"] == [1.0, 1.0, 1.0]
    assert values["random"]["1"] == values["rtv"]["1"]  # one rollout: nothing to choose
    # votes are banked per ordering: no more judge requests than orderings of pairs of 4 rollouts, per task
    assert curves["judge_usage"]["requests"] <= 2 * 4 * 3
    assert "oracle" in result.output and "wrote" in result.output


def test_curves_of_an_ungraded_run_say_how_to_grade_it(pdr_run, tmp_path):
    import shutil

    source, _, _ = pdr_run
    shutil.copytree(source, tmp_path / "ungraded", ignore=shutil.ignore_patterns("eval.jsonl", "curves.json"))
    result = CliRunner().invoke(app, ["select", str(tmp_path / "ungraded"), "--curves"])
    assert result.exit_code == 2
    assert "no task has graded candidates; run `codescale evaluate" in result.output and "--all-candidates" in result.output


def test_reselect_with_the_trajectory_as_judge_input_and_compare_both(pdr_run, tmp_path):
    source, server, script = pdr_run
    before = len(server.requests)
    out = tmp_path / "trajectory"
    result = CliRunner().invoke(app, ["select", str(source), "-c", "scaling.judge.input=trajectory", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(script.kinds[before:]) == {"judge"}  # no agent, no summarizer
    prompts = [r.json["messages"][-1]["content"] for r in server.requests[before:]]
    assert prompts and all(re.search(r"<trajectory-[0-9a-f]{12}>\nExit status: submitted. Steps:", p) and "## Understanding" not in p
                           for p in prompts)
    assert all("PLAN " in p and "Final diff:" in p for p in prompts)
    shown = CliRunner().invoke(app, ["compare", str(source), str(out), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)["runs"]
    assert [r["path"] for r in rows] == [str(source), str(out)]
    plain = CliRunner().invoke(app, ["compare", str(source), str(out)])
    assert "judge input" in plain.output and "trajectory" in plain.output and "summary" in plain.output
