"""`codescale compare`: every figure equals a hand computation from eval.jsonl and results.jsonl."""

from __future__ import annotations

import json
import random
from math import comb

import pytest
from typer.testing import CliRunner

from codescale.agent.records import Condensation, Trajectory
from codescale.eval.cli.main import app
from codescale.eval.analysis.compare import compare
from codescale.eval.runs.rundir import RecordError, RunDir
from codescale.eval.analysis.stats import mcnemar_exact, paired
from codescale.scaling.records import Summary
from fake_server import FakeServer
from saved_runs import calc_tasks, grade_by_plan, make_run

PLANS_A = {"calc-0": ["fix"], "calc-1": ["wrong"], "calc-2": ["fix"], "calc-3": ["empty"]}
PLANS_B = {"calc-0": ["fix", "wrong"], "calc-1": ["fix", "fix"], "calc-2": ["wrong", "empty"],
           "calc-3": ["other", "fix"], "calc-4": ["fix", "fix"]}


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def percentile_interval(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The mean and its 95% percentile bootstrap interval, as a reader would compute it by hand."""
    n, mean = len(values), sum(values) / len(values)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return mean, min(means[int(0.025 * resamples)], mean), max(means[int(0.975 * resamples)], mean)


def by_hand(base_dir, run_dir) -> dict:
    """The comparison of `run_dir` with `base_dir`, from their eval.jsonl and results.jsonl alone."""
    base = {g["instance_id"]: g for g in lines(base_dir / "eval.jsonl")}
    run = {g["instance_id"]: g for g in lines(run_dir / "eval.jsonl")}
    shared = sorted(set(base) & set(run))
    a = [float(base[i]["resolved"]) for i in shared]
    b = [float(run[i]["resolved"]) for i in shared]
    wins = sum(y > x for x, y in zip(a, b))
    losses = sum(y < x for x, y in zip(a, b))
    discordant = wins + losses
    p = min(1.0, 2 * sum(comb(discordant, k) for k in range(min(wins, losses) + 1)) / 2**discordant) if discordant else 1.0
    results = {r["instance_id"]: r for r in lines(run_dir / "results.jsonl")}
    tokens = {phase: sum(results[i]["usage"][phase]["input_tokens"] + results[i]["usage"][phase]["output_tokens"]
                         for i in shared) for phase in ("rollouts", "summaries", "judge")}
    usage = lambda phase, field: sum(results[i]["usage"][phase].get(field, 0) for i in shared)  # noqa: E731
    cached = {phase: usage(phase, "cached_input_tokens") / usage(phase, "input_tokens")
              for phase in ("rollouts", "summaries", "judge") if usage(phase, "input_tokens")}
    return {
        "shared": shared, "base": percentile_interval(a), "run": percentile_interval(b), "cached_input": cached,
        "diff": percentile_interval([y - x for x, y in zip(a, b)]), "wlt": (wins, losses, len(shared) - discordant),
        "p": p, "tokens_per_task": {k: v / len(shared) for k, v in tokens.items()},
        "tokens_per_resolved": sum(tokens.values()) / sum(b), "seconds": sum(results[i]["seconds"] for i in shared) / len(shared),
    }


def check(comparison: dict, hand: dict) -> None:
    base, run = comparison["runs"]
    assert comparison["shared_tasks"] == hand["shared"]
    assert (base["resolved"]["value"], base["resolved"]["low"], base["resolved"]["high"]) == hand["base"]
    assert (run["resolved"]["value"], run["resolved"]["low"], run["resolved"]["high"]) == hand["run"]
    diff = run["vs_baseline"]
    assert (diff["difference"]["value"], diff["difference"]["low"], diff["difference"]["high"]) == hand["diff"]
    assert (diff["wins"], diff["losses"], diff["ties"]) == hand["wlt"]
    assert diff["p_value"] == hand["p"] and base["vs_baseline"] is None
    for phase, value in hand["tokens_per_task"].items():
        assert run["phases"][phase]["tokens_per_task"] == value
    assert run["phases"]["total"]["tokens_per_resolved"] == hand["tokens_per_resolved"]
    assert run["seconds_per_task"] == hand["seconds"]
    assert {phase: run["phases"][phase]["cached_input"] for phase in hand["cached_input"]} == hand["cached_input"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """`single` on calc-0..3 and `best_of_n` (N=2) on calc-0..4, graded by plan."""
    root = tmp_path_factory.mktemp("compare")
    tasks = calc_tasks(root, 5)
    with FakeServer(cached_tokens=50) as server:  # every request reads its first 50 input tokens from the cache
        a, _ = make_run(server, root / "single", tasks[:4], PLANS_A, strategy="single")
        b, _ = make_run(server, root / "best", tasks, PLANS_B, strategy="best_of_n", n=2)
    grade_by_plan(a)
    grade_by_plan(b)
    return a.path, b.path


def test_mcnemar_exact_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 0) == 0.25  # 2 * (1/2)^3
    assert mcnemar_exact(5, 1) == 2 * (1 + 6) / 64
    assert mcnemar_exact(2, 2) == 1.0
    d = paired([True, True, False, True], [False, True, True, False])
    assert (d.wins, d.losses, d.ties, d.p_value, d.difference.value) == (2, 1, 1, 1.0, 0.25)


def test_compare_json_equals_the_hand_computation_on_the_shared_tasks(two_runs):
    single, best = two_runs
    result = CliRunner().invoke(app, ["compare", str(single), str(best), "--json"])
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.output)
    hand = by_hand(single, best)
    assert hand["shared"] == ["calc-0", "calc-1", "calc-2", "calc-3"]  # calc-4 is only in the second run
    check(comparison, hand)
    assert [r["tasks"] for r in comparison["runs"]] == [4, 5]
    assert comparison["runs"][0]["mean_steps"] == (3 + 2 + 3 + 1) / 4  # fix: 2 commands + submit; wrong: 1 + submit
    assert comparison["runs"][1]["rollouts_per_task"] == 2.0
    assert comparison["runs"][0]["phases"]["judge"]["cost_per_task"] == 0.0  # no judge calls: nothing unpriced
    assert comparison["runs"][1]["phases"]["rollouts"]["cost_per_task"] is None  # the fake model has no price
    assert 0 < comparison["runs"][1]["phases"]["rollouts"]["cached_input"] < 1


def test_baseline_option_reorders_and_markdown_states_the_intersection(two_runs):
    single, best = two_runs
    result = CliRunner().invoke(app, ["compare", str(single), str(best), "--baseline", str(best), "--markdown"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("Compared on 4 shared tasks (best: 5, single: 4); baseline: best.\n")
    hand = by_hand(best, single)
    mean, low, high = hand["diff"]
    wins, losses, ties = hand["wlt"]
    row = next(line for line in text.splitlines() if line.startswith("| single |"))
    assert f"| {100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] | {hand['p']:.3g} | {wins}/{losses}/{ties} |" in row
    assert "McNemar's exact test" in text and "paired bootstrap" in text
    plain = CliRunner().invoke(app, ["compare", str(single), str(best)])
    assert plain.exit_code == 0 and "Compared on 4 shared tasks" in plain.output and "W/L/T" in plain.output


def test_an_older_record_is_named_by_file_line_and_field(two_runs, tmp_path):
    import shutil

    single, _ = two_runs
    copy = tmp_path / "old"
    shutil.copytree(single, copy)
    rows = lines(copy / "results.jsonl")
    rows[1]["usage"] = {"rollouts": {"input_tokens": "many"}}
    (copy / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RecordError) as err:
        compare([copy])
    assert str(err.value).startswith(f"{copy / 'results.jsonl'}:2: not a TaskResult record of this codescale version: "
                                     "field 'usage.rollouts.input_tokens'")
    result = CliRunner().invoke(app, ["compare", str(copy)])
    assert result.exit_code == 2 and "usage.rollouts.input_tokens" in result.output


def test_an_ungraded_run_is_refused_with_the_command_to_grade_it(two_runs, tmp_path):
    import shutil

    single, _ = two_runs
    shutil.copytree(single, tmp_path / "ungraded", ignore=shutil.ignore_patterns("eval.jsonl"))
    with pytest.raises(RecordError, match="no eval.jsonl; grade the run first with `codescale evaluate"):
        compare([single, tmp_path / "ungraded"])
    assert RunDir.existing(single).grades()["calc-0"].resolved is True


@pytest.mark.slow
def test_compare_two_strategies_over_bundled_tasks_graded_by_the_harness(fake_server, base_image, tmp_path, monkeypatch):
    """`single` vs `best_of_n` (N=2) on three bundled tasks in Docker, graded by the real swebench harness:
    `compare` gives what eval.jsonl gives by hand."""
    from codescale.eval.runs.config import RunConfig
    from codescale.eval.runs.evaluate import evaluate
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.runs.rundir import RunDir
    from codescale.eval.runs.solve import solve
    from codescale.eval.tasks.load import suite_task
    from scaling_script import ScalingScript

    monkeypatch.setenv("CODESCALE_BASE_IMAGE", base_image)
    ids = ["codescale__slugkit-1", "codescale__thermo-1", "codescale__shopcart-1"]
    tasks = [suite_task(i, base_image=base_image) for i in ids]
    commands = {}
    for task in tasks:
        name = task.instance_id.split("__")[1].split("-")[0]
        target = task.patch.split(" b/", 1)[1].split("\n", 1)[0]
        commands[f"fix_{name}"] = [f"git apply - <<'CODESCALE_PATCH'\n{task.patch}CODESCALE_PATCH"]
        commands[f"wrong_{name}"] = [f"printf '\\n# TODO\\n' >> {target}"]
    for task in tasks:
        ensure_image(task)
    plans = {"single": ["fix_slugkit", "wrong_thermo", "wrong_shopcart"],
             "best": ["wrong_slugkit", "fix_slugkit", "fix_thermo", "fix_thermo", "wrong_shopcart", "fix_shopcart"]}
    for name, strategy in (("single", {"strategy": "single"}), ("best", {"strategy": "best_of_n", "n": 2})):
        fake_server.responder = ScalingScript(plans[name], commands)
        config = RunConfig.model_validate({
            "model": {"id": "openai/fake", "base_url": fake_server.openai_url, "retries": {"attempts": 1}},
            "sandbox": {"kind": "docker"}, "scaling": {"concurrency": 1, **strategy},
        })
        run = RunDir(tmp_path / name)
        run.path.mkdir()
        run.write_config(config.model_dump(mode="json"), name)
        for task in tasks:
            solve(task, config, run, f"test-compare-{name}")
        evaluate(run.path, all_candidates=name == "best", workers=2)

    graded = {r["instance_id"]: r["resolved"] for r in lines(tmp_path / "single" / "eval.jsonl")}
    assert graded == {"codescale__slugkit-1": True, "codescale__thermo-1": False, "codescale__shopcart-1": False}
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "single"), str(tmp_path / "best"), "--json"])
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.output)
    check(comparison, by_hand(tmp_path / "single", tmp_path / "best"))
    assert comparison["runs"][1]["oracle"]["value"] == 1.0  # every task had a fixing rollout


# ---- the paper's quantities -------------------------------------------------------------------------

PLANS_PDR = {  # generation 0 (4 rollouts), then generation 1 (4 refined rollouts); only `fix` resolves
    "calc-0": ["fix", "wrong", "other", "fix"] + ["fix", "fix", "wrong", "fix"],
    "calc-1": ["wrong", "other", "wrong", "empty"] + ["wrong", "other", "other", "wrong"],
    "calc-2": ["fix", "fix", "fix", "wrong"] + ["fix", "fix", "fix", "fix"],
    "calc-3": ["other", "fix", "empty", "wrong"] + ["wrong", "fix", "fix", "other"],
}


@pytest.fixture(scope="module")
def pdr_run(tmp_path_factory):
    """`pdr+rtv` (N=4, K=2, V=2) on calc-0..3, graded by plan."""
    root = tmp_path_factory.mktemp("paper")
    with FakeServer() as server:
        run, _ = make_run(server, root / "pdr", calc_tasks(root, 4), PLANS_PDR, strategy="pdr+rtv", n=4,
                          rtv={"votes": 2}, pdr={"k": 2})
    grade_by_plan(run)
    return run.path


def paper_by_hand(run_dir) -> dict:
    """The paper's quantities from results.jsonl, eval.jsonl and the selection files alone."""
    results = {r["instance_id"]: r for r in lines(run_dir / "results.jsonl")}
    resolved = {g["instance_id"]: {c["rollout_id"]: c["resolved"] for c in g["candidates"]}
                for g in lines(run_dir / "eval.jsonl")}
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    sel_k, buckets, rounds, fail, full = [], {b: [] for b in range(3)}, {}, 0, 0
    for i, result in sorted(results.items()):
        ok = resolved[i]
        refined = result["contexts"]
        assert sorted(refined) == result["rollouts"][1] and all(len(ctx) == 2 for ctx in refined.values())
        sel_k.append(mean([mean([ok[c] for c in ctx]) for ctx in refined.values()]))
        per = {}
        for rid, ctx in refined.items():
            per.setdefault(sum(ok[c] for c in ctx), []).append(ok[rid])
        for b, flags in per.items():
            buckets[b].append(mean(flags))
        last = [ok[rid] for rid in result["rollouts"][-1]]
        fail, full = fail + (not any(last)), full + all(last)
        for name in ("selection.context-g0.json", "selection.json"):
            sel = json.loads((run_dir / "tasks" / i / name).read_text())
            alive = [sel["candidates"]] + [[w for m in r["matches"] for w in m["winners"]] for r in sel["rounds"]]
            for k, ids in enumerate(alive):
                rounds.setdefault((sel["stage"], k), []).append((len(ids), mean([ok[c] for c in ids])))
    tokens = sum(r["usage"][p]["input_tokens"] + r["usage"][p]["output_tokens"] for r in results.values()
                 for p in ("rollouts", "summaries", "judge"))
    answered = sum(g["resolved"] for g in lines(run_dir / "eval.jsonl"))
    return {
        "sel_k": mean(sel_k),
        "rounds": [{"stage": s, "round": k, "survivors": mean([n for n, _ in v]), "resolved_rate": mean([r for _, r in v])}
                   for (s, k), v in sorted(rounds.items(), key=lambda kv: (kv[0][0] != "final", kv[0]))],
        "context_buckets": {f"{b}/2": {"tasks": len(v), "refined_pass_at_1": mean(v) if v else None}
                            for b, v in buckets.items()},
        "all_fail": fail, "all_pass": full,
        "cost_per_resolved": {"usd": None, "tokens": tokens / answered},
    }


def test_the_paper_fields_equal_a_hand_computation_from_the_run_files(pdr_run):
    result = CliRunner().invoke(app, ["compare", str(pdr_run), "--json"])
    assert result.exit_code == 0, result.output
    paper = json.loads(result.output)["runs"][0]["paper"]
    hand = paper_by_hand(pdr_run)
    assert set(paper) == {"sel_k", "rounds", "context_buckets", "all_fail", "all_pass", "cost_per_resolved"}
    assert paper["sel_k"] == pytest.approx(hand["sel_k"])
    assert [(r["stage"], r["round"]) for r in paper["rounds"]] == [(r["stage"], r["round"]) for r in hand["rounds"]]
    for got, want in zip(paper["rounds"], hand["rounds"]):
        assert (got["survivors"], got["resolved_rate"]) == pytest.approx((want["survivors"], want["resolved_rate"]))
    assert paper["context_buckets"] == hand["context_buckets"]
    assert paper["cost_per_resolved"]["usd"] is None and paper["cost_per_resolved"]["tokens"] == pytest.approx(
        hand["cost_per_resolved"]["tokens"])
    # what the plans fix whatever the judge does: calc-1's refined rollouts all fail, calc-2's all resolve; the final
    # bracket starts from every non-empty refined rollout (16, of which fix: 3 + 0 + 4 + 2)
    assert (paper["all_fail"], paper["all_pass"]) == (hand["all_fail"], hand["all_pass"]) == (1, 1)
    first = next(r for r in paper["rounds"] if r["stage"] == "final" and r["round"] == 0)
    assert first["survivors"] == 4 and first["resolved_rate"] == pytest.approx((3 / 4 + 0 + 1 + 2 / 4) / 4)
    context = next(r for r in paper["rounds"] if r["stage"] == "context-g0" and r["round"] == 0)
    assert context["survivors"] == (4 + 3 + 4 + 3) / 4  # empty patches do not enter
    assert [r["round"] for r in paper["rounds"] if r["stage"] == "final"] == [0, 1, 2]


def test_unknown_paper_fields_are_null_and_markdown_shows_the_tables(two_runs, pdr_run):
    single, _ = two_runs
    paper = json.loads(CliRunner().invoke(app, ["compare", str(single), "--json"]).output)["runs"][0]["paper"]
    # a single rollout per task: no context, no bracket; its one rollout is its final generation
    assert paper["sel_k"] is None and paper["rounds"] is None and paper["context_buckets"] is None
    assert (paper["all_fail"], paper["all_pass"]) == (2, 2)
    text = CliRunner().invoke(app, ["compare", str(pdr_run), "--markdown"]).output
    assert "The paper's quantities (Kim et al. 2026):" in text and "| 0/2 |" in text and "| context-g0 | 0 |" in text


def test_compare_shows_compression_condensations_and_context_limits(tmp_path):
    tasks = calc_tasks(tmp_path, 2)
    with FakeServer() as server:
        run, _ = make_run(server, tmp_path / "rtv", tasks, {"calc-0": ["fix", "wrong"], "calc-1": ["wrong", "other"]},
                          strategy="rtv", n=2)
    grade_by_plan(run)
    path = run.path / "tasks" / "calc-1" / "g0-r1.traj.json"  # as a long rollout would have left it
    traj = Trajectory.load(path)
    traj.exit_status = "context_limit"
    traj.condensations = [Condensation(at_step=1, first_step=0, last_step=0, reason="threshold", window=6000,
                                       tokens_before=4900, tokens_after=900, summary="## Actions\nx", message="x")] * 2
    traj.save(path)
    summaries = [Summary.model_validate_json(p.read_text()) for p in run.path.glob("tasks/*/*.summary.json")]
    assert len(summaries) == 4 and all(s.trajectory_tokens > 0 for s in summaries)
    figures = compare([run.path]).runs[0].figures
    assert figures.compression == sum(s.summary_tokens / s.trajectory_tokens for s in summaries) / 4
    (generation,) = figures.generations
    assert (generation.condensations_per_rollout, generation.context_limits) == (0.5, 1)
    result = CliRunner().invoke(app, ["compare", str(run.path), "--markdown"])
    assert result.exit_code == 0, result.output
    assert "summary ÷ trajectory" in result.output and f"| {figures.compression:.3f} |" in result.output
    assert "| condensed/rollout | context_limit |" in result.output and "| 0.5 | 1 |" in result.output
