"""Strategies end to end on the local sandbox, with the agent, summarizer and judge played by the fake server."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from codescale.agent.models.base import ModelConfig, RetryConfig
from codescale.agent.records import Task, Trajectory, Usage
from codescale.agent.rollout import RolloutConfig, run_rollout
from codescale.agent.templates import render
from conftest import CALC_FILES, make_repo
from codescale.scaling.base import ScalingConfig, make_strategy
from codescale.scaling.records import Selection, Summary
from codescale.scaling.rtv import normalise_patch
from scaling_script import ScalingScript

COMMANDS = {
    "fix": ["sed -i 's/a - b/a + b/' calc/ops.py", "PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider 2>&1 | tail -1"],
    "wrong": ["sed -i 's/a \\* b/a + b/' calc/ops.py"],
    "other": ["sed -i 's/return a \\* b/return b * a/' calc/ops.py"],
    "empty": [],
}


@pytest.fixture
def calc_task(tmp_path) -> Task:
    repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
    return Task(instance_id="calc-1", problem_statement="add() subtracts instead of adding.", repo_dir=str(repo), base_commit=commit)


def solve(server, task, task_dir, plans, commands=COMMANDS, **scaling):
    """Run a strategy with every model call going to the fake server; returns (result, script)."""
    script = ScalingScript(plans, commands)
    server.responder = script
    model = ModelConfig(id="openai/fake", base_url=server.openai_url, retries=RetryConfig(attempts=1))
    rollout_config = RolloutConfig(model=model, sandbox={"kind": "local"})

    def rollout(task, *, rollout_id, generation=0, refinement_context="", spending=None):
        return run_rollout(task, rollout_config, run_id="test-pdr", rollout_id=rollout_id, task_dir=task_dir,
                           generation=generation, refinement_context=refinement_context, spending=spending)

    config = ScalingConfig.model_validate({"concurrency": 4, **scaling})
    return make_strategy(config, rollout=rollout, model=model, task_dir=task_dir).solve(task), script


def load(path, cls):
    return cls.model_validate_json(path.read_text())


def test_pdr_rtv_refines_with_the_selected_summaries(fake_server, calc_task, tmp_path):
    plans = ["fix", "wrong", "empty", "other"] + ["wrong", "fix", "other", "empty"]
    result, script = solve(fake_server, calc_task, tmp_path, plans, strategy="pdr+rtv", n=4,
                           rtv={"votes": 2}, pdr={"k": 2})
    assert result.rollouts == [[f"g0-r{i}" for i in range(4)], [f"g1-r{i}" for i in range(4)]]
    trajs = {p.name.split(".")[0]: Trajectory.load(p) for p in tmp_path.glob("*.traj.json")}
    plan_of = {rid: t.steps[0].response.split(",")[0].removeprefix("PLAN ") for rid, t in trajs.items()}
    # summaries only of what a selection read: the empty patch of each generation is dropped unsummarized
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert names == sorted([f"{rid}.traj.json" for rid in trajs] + ["selection.context-g0.json", "selection.json"]
                           + [f"{rid}.summary.json" for rid in trajs if plan_of[rid] != "empty"])
    assert script.kinds.count("summarizer") == 6
    assert sorted(plan_of[f"g0-r{i}"] for i in range(4)) == ["empty", "fix", "other", "wrong"]

    # generation 0: RTV stopped at K=2 over three non-empty patches (the empty one dropped)
    context = load(tmp_path / "selection.context-g0.json", Selection)
    assert context.stage == "context-g0" and context.stop_at == 2 and len(context.winners) == 2
    (empty,) = [rid for rid in result.rollouts[0] if plan_of[rid] == "empty"]
    assert context.dropped == {empty: "empty patch"}
    (fixed,) = [rid for rid in result.rollouts[0] if plan_of[rid] == "fix"]
    assert fixed in context.winners

    # generation 1: every prompt carries exactly the two selected summaries, rendered by the template
    summaries = [load(tmp_path / f"{rid}.summary.json", Summary) for rid in context.winners]
    assert result.contexts == {f"g1-r{i}": context.winners for i in range(4)}
    for i in range(4):
        assert trajs[f"g1-r{i}"].refinement_context == rendered_context(trajs[f"g1-r{i}"], summaries)
    refined_prompts = script.instance_prompts[4:]
    assert len(refined_prompts) == 4 and all(summaries[0].markdown() in p for p in refined_prompts)
    assert all(any(trajs[f"g1-r{i}"].refinement_context in p for p in refined_prompts) for i in range(4))
    assert all("<attempt-" not in p for p in script.instance_prompts[:4])

    # the answer: the RTV winner of generation 1, which is its working rollout
    final = load(tmp_path / "selection.json", Selection)
    assert result.selection == final and final.candidates and final.winners == [result.final_rollout]
    assert plan_of[result.final_rollout] == "fix" and result.final_rollout.startswith("g1-")
    assert "-    return a - b\n+    return a + b" in result.final_patch

    # usage per phase, checked against what the server saw
    kinds = Counter(script.kinds)
    assert result.usage.summaries.requests == kinds["summarizer"] == 6
    assert result.usage.judge.requests == kinds["judge"] and result.usage.rollouts.requests == kinds["agent"]
    assert result.usage.total.requests == len(fake_server.requests)


def rendered_context(traj: Trajectory, summaries: list[Summary]) -> str:
    """The context template rendered with these summaries and the key the trajectory's context was given."""
    from codescale.scaling.pdr import PDRConfig

    key = re.search(r"<attempt-([0-9a-f]{12}) ", traj.refinement_context).group(1)
    return render(PDRConfig().context_template, summaries=summaries, patches=[""] * len(summaries), key=key)


def test_own_context_gives_each_rollout_its_predecessor(fake_server, calc_task, tmp_path):
    plans = ["fix", "wrong"] + ["wrong", "wrong"]
    result, script = solve(fake_server, calc_task, tmp_path, plans, strategy="pdr", n=2, concurrency=1,
                           pdr={"context": "own"})
    for i in range(2):
        summary = load(tmp_path / f"g0-r{i}.summary.json", Summary)
        refined = Trajectory.load(tmp_path / f"g1-r{i}.traj.json")
        assert refined.refinement_context == rendered_context(refined, [summary])
        assert f'number="1">\n{summary.markdown()}\n</attempt-' in refined.refinement_context
    assert result.contexts == {"g1-r0": ["g0-r0"], "g1-r1": ["g0-r1"]}
    assert "judge" not in script.kinds  # own context and a random final pick need no judge
    assert result.selection.method == "random" and result.final_rollout in result.rollouts[1]
    assert result.usage.judge == Usage()


NOTES = {f"note{i}": [f"echo '# note {i}' >> calc/ops.py"] for i in range(8)}


def test_random_context_draws_a_seeded_set_for_each_refined_rollout(fake_server, calc_task, tmp_path):
    plans = list(NOTES) + ["wrong"] * 8
    result, script = solve(fake_server, calc_task, tmp_path, plans, strategy="pdr", n=8, concurrency=2,
                           pdr={"context": "random", "k": 2}, commands={**COMMANDS, **NOTES})
    context = load(tmp_path / "selection.context-g0.json", Selection)
    assert context.method == "random" and context.candidates == result.rollouts[0] and not context.dropped
    drawn = [result.contexts[f"g1-r{i}"] for i in range(8)]
    assert all(len(set(ids)) == 2 for ids in drawn)
    assert len({tuple(sorted(ids)) for ids in drawn}) >= 5  # independent draws, not one shared pick
    rng = random.Random(context.seed)  # seeded: the draws are the recorded seed's, in order
    assert drawn == [rng.sample(context.candidates, 2) for _ in range(8)]
    assert context.winners == list(dict.fromkeys(rid for ids in drawn for rid in ids))
    for i, ids in enumerate(drawn):  # each refined rollout was prompted with exactly its own draw
        refined = Trajectory.load(tmp_path / f"g1-r{i}.traj.json")
        summaries = [load(tmp_path / f"{rid}.summary.json", Summary) for rid in ids]
        assert refined.refinement_context == rendered_context(refined, summaries)
    assert "judge" not in script.kinds


def test_keep_survivors_puts_the_context_rollouts_in_the_final_pool(fake_server, calc_task, tmp_path):
    plans = ["fix", "wrong"] + ["wrong", "wrong"]
    result, _ = solve(fake_server, calc_task, tmp_path, plans, strategy="pdr+rtv", n=2, concurrency=1,
                      rtv={"votes": 2}, pdr={"k": 1, "keep_survivors": True})
    context = load(tmp_path / "selection.context-g0.json", Selection)
    assert context.winners == ["g0-r0"]
    assert sorted(result.selection.candidates + list(result.selection.dropped)) == ["g0-r0", "g1-r0", "g1-r1"]
    assert result.final_rollout == "g0-r0"  # the only working patch, carried over


def test_rtv_strategy_lets_identical_patches_all_enter_and_judges_only_different_ones(fake_server, calc_task, tmp_path):
    plans = ["wrong", "wrong", "fix", "wrong", "empty"]
    result, _ = solve(fake_server, calc_task, tmp_path, plans, strategy="rtv", n=5, concurrency=1, rtv={"votes": 4})
    sel = result.selection
    assert sel.candidates == ["g0-r0", "g0-r1", "g0-r2", "g0-r3"] and sel.dropped == {"g0-r4": "empty patch"}
    matches = [m for r in sel.rounds for m in r.matches]
    assert [m.identical for m in matches].count(True) >= 1 and result.final_rollout == "g0-r2"
    for m in matches:  # a match between two `wrong` patches asks no judge; every judged match had `fix` in it
        assert m.identical == ("g0-r2" not in m.candidates) and (m.votes == []) == m.identical
    judged = [r.json for r in fake_server.requests if r.json["messages"][0]["content"].startswith("You review")]
    assert len(judged) == 2 * sum(not m.identical for m in matches)
    assert all("plan fix" in r["messages"][-1]["content"] for r in judged)


def test_identical_patches_still_fill_k_contexts_without_a_judge(fake_server, calc_task, tmp_path):
    plans = ["fix"] * 4 + ["wrong"] * 4
    result, script = solve(fake_server, calc_task, tmp_path, plans, strategy="pdr", n=4, concurrency=1,
                           rtv={"votes": 2}, pdr={"k": 2})
    context = load(tmp_path / "selection.context-g0.json", Selection)
    assert len(context.candidates) == 4 and len(context.winners) == 2
    assert all(m.identical for r in context.rounds for m in r.matches) and "judge" not in script.kinds
    assert all(ids == context.winners for ids in result.contexts.values())


def test_rtv_strategy_merges_duplicates_when_asked(fake_server, calc_task, tmp_path):
    plans = ["wrong", "wrong", "fix", "empty"]
    result, _ = solve(fake_server, calc_task, tmp_path, plans, strategy="rtv", n=4, concurrency=1,
                      rtv={"votes": 4, "duplicates": "merge"})
    sel = result.selection
    assert sel.dropped == {"g0-r1": "duplicate of g0-r0", "g0-r3": "empty patch"}
    assert sel.candidates == ["g0-r0", "g0-r2"] and len(sel.rounds) == 1
    (match,) = sel.rounds[0].matches
    assert match.tally == {rid: 4 if rid == "g0-r2" else 0 for rid in match.candidates}
    assert result.final_rollout == "g0-r2" and "+    return a + b" in result.final_patch
    # one judge request per ordering, with n = 2 votes each
    judge_requests = [r.json for r in fake_server.requests if r.json["messages"][0]["content"].startswith("You review")]
    assert [r["n"] for r in judge_requests] == [2, 2]


def test_best_of_n_picks_at_random_among_non_empty_patches_without_a_judge(fake_server, calc_task, tmp_path):
    plans = ["empty", "fix", "empty", "empty"]
    result, script = solve(fake_server, calc_task, tmp_path, plans, strategy="best_of_n", n=4)
    assert set(script.kinds) == {"agent"}
    assert result.selection.method == "random" and len(result.selection.candidates) == 1
    assert "+    return a + b" in result.final_patch and len(result.selection.dropped) == 3
    assert json.loads((tmp_path / "selection.json").read_text())["winners"] == [result.final_rollout]


def test_a_failing_rollout_is_recorded_and_does_not_sink_the_others(fake_server, calc_task, tmp_path):
    plans = ["crash", "fix"]
    result, _ = solve(fake_server, calc_task, tmp_path, plans, strategy="rtv", n=2, concurrency=1, rtv={"votes": 2})
    assert result.exit_statuses == {"g0-r0": "model_error", "g0-r1": "submitted"}
    assert result.final_rollout == "g0-r1" and not (tmp_path / "g0-r0.summary.json").exists()  # its empty patch is dropped


def test_a_rollout_function_that_raises_is_recorded(fake_server, calc_task, tmp_path):
    def broken(task, *, rollout_id, generation=0, refinement_context="", spending=None):
        raise RuntimeError("sandbox host vanished")

    model = ModelConfig(id="openai/fake", base_url=fake_server.openai_url)
    config = ScalingConfig(strategy="best_of_n", n=2)
    result = make_strategy(config, rollout=broken, model=model, task_dir=tmp_path).solve(calc_task)
    assert result.exit_statuses == {"g0-r0": "sandbox_error", "g0-r1": "sandbox_error"}
    assert result.final_patch == "" and result.final_rollout in ("g0-r0", "g0-r1")
    saved = Trajectory.load(tmp_path / "g0-r0.traj.json")
    assert saved.error == "the rollout raised RuntimeError: sandbox host vanished"


CLI_RUN = ["run"]


@pytest.mark.slow
def test_cli_pdr_rtv_on_a_bundled_task_in_docker(fake_server, base_image, tmp_path):
    """`codescale run --strategy pdr+rtv` with N=2, K=1, V=2 on a bundled task in real Docker: two generations of
    trajectories and summaries, generation 1 prompted with the selected summary, and the answer is the RTV
    winner, which (the judge preferring working patches) resolves the task: its FAIL_TO_PASS tests pass."""
    import os
    import subprocess

    from codescale.agent.rollout import open_sandbox
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.load import suite_task

    task = suite_task("codescale__slugkit-1", base_image=base_image)
    ensure_image(task)
    target = task.patch.split(" b/", 1)[1].split("\n", 1)[0]
    commands = {
        "fix": [f"git apply - <<'CODESCALE_PATCH'\n{task.patch}CODESCALE_PATCH", "PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider 2>&1 | tail -1"],
        "wrong": [f"printf '\\n# TODO: trim separators\\n' >> {target}"],
    }
    script = ScalingScript(["fix", "wrong"] + ["wrong", "fix"], commands)
    fake_server.responder = script
    out = tmp_path / "run"
    completed = subprocess.run(
        ["codescale", *CLI_RUN, "--task", task.instance_id, "--model", "openai/fake", "--base-url", fake_server.openai_url,
         "--sandbox", "docker", "--strategy", "pdr+rtv", "-c", "scaling.n=2", "-c", "scaling.pdr.k=1",
         "-c", "scaling.rtv.votes=2", "-c", "scaling.concurrency=2", "--out", str(out)],
        env={**os.environ, "CODESCALE_BASE_IMAGE": base_image}, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    task_dir = out / "tasks" / task.instance_id
    for g in (0, 1):
        for i in range(2):
            assert (task_dir / f"g{g}-r{i}.traj.json").is_file() and (task_dir / f"g{g}-r{i}.summary.json").is_file()
    (result,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert result["strategy"] == "pdr+rtv" and result["rollouts"] == [["g0-r0", "g0-r1"], ["g1-r0", "g1-r1"]]

    context = load(task_dir / "selection.context-g0.json", Selection)
    (chosen,) = context.winners
    summary = load(task_dir / f"{chosen}.summary.json", Summary)
    assert "WORKS" in summary.final_state  # the judge chose the working generation-0 rollout
    assert len(script.instance_prompts) == 4
    assert all(summary.markdown() in p for p in script.instance_prompts[2:])
    assert all(summary.markdown() not in p for p in script.instance_prompts[:2])

    final = load(task_dir / "selection.json", Selection)
    assert final.winners == [result["final_rollout"]] and result["final_rollout"].startswith("g1-")
    assert result["final_patch"] == Trajectory.load(task_dir / f"{result['final_rollout']}.traj.json").patch
    assert normalise_patch(result["final_patch"]) == normalise_patch(task.patch)

    # the answer resolves the task: apply it and the hidden tests in a fresh container, run FAIL_TO_PASS
    with open_sandbox(task, {"kind": "docker"}, run_id="test-pdr-grade", name="grade") as sandbox:
        for patch in (result["final_patch"], task.test_patch):
            applied = sandbox.execute(f"git apply - <<'CODESCALE_PATCH'\n{patch}CODESCALE_PATCH")
            assert applied.returncode == 0, applied.output
        tests = sandbox.execute("python3 -m pytest -q " + " ".join(task.FAIL_TO_PASS))
    assert tests.returncode == 0 and f"{len(task.FAIL_TO_PASS)} passed" in tests.output
