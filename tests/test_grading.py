"""Grading with the real swebench harness on the bundled tasks' images, and the metrics of a graded run."""

from __future__ import annotations

import json

import pytest

from codescale.agent.records import Trajectory
from codescale.eval.cli.main import app
from codescale.eval.runs.evaluate import evaluate
from codescale.eval.tasks.grading import CandidateGrade, TaskGrade
from codescale.eval.analysis.metrics import bootstrap, compute
from codescale.eval.runs.rundir import RunDir
from codescale.eval.tasks.load import load_tasks
from codescale.scaling.records import TaskResult

UNRELATED = (
    "diff --git a/NOTES.md b/NOTES.md\nnew file mode 100644\nindex 0000000..3b18e51\n--- /dev/null\n"
    "+++ b/NOTES.md\n@@ -0,0 +1 @@\n+unrelated note\n"
)


def write_run(path, tasks, final_patches, rollouts=None, record_tasks=True):
    """A run directory as the runner writes it; `rollouts` maps instance id -> [[patch, ...] per generation]."""
    run = RunDir(path)
    for task, final in zip(tasks, final_patches):
        if record_tasks:
            run.write_task(task)
        ids = []
        for generation, patches in enumerate((rollouts or {}).get(task.instance_id, [])):
            ids.append([f"g{generation}r{i}" for i in range(len(patches))])
            for rollout_id, patch in zip(ids[-1], patches):
                Trajectory(task_id=task.instance_id, rollout_id=rollout_id, generation=generation, model="m",
                           patch=patch).save(run.make_task_dir(task.instance_id) / f"{rollout_id}.traj.json")
        result = TaskResult(instance_id=task.instance_id, strategy="single", final_patch=final,
                            final_rollout="g0r0" if ids else None, rollouts=ids)
        run.append_result(result, model_name="m")
    return run


@pytest.mark.slow
def test_gold_patches_resolve_every_bundled_task(docker_client, base_image, tmp_path):
    tasks = load_tasks(base_image=base_image)
    write_run(tmp_path, tasks, [t.patch for t in tasks])
    graded = evaluate(tmp_path, workers=2)
    assert [(g.instance_id, g.resolved, g.failed_tests, g.error) for g in graded] == [
        (t.instance_id, True, [], "") for t in tasks
    ]
    lines = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [line["resolved"] for line in lines] == [True] * len(tasks)


@pytest.mark.slow
def test_empty_and_unrelated_patches_resolve_none(docker_client, base_image, tmp_path, monkeypatch):
    tasks = load_tasks(ids=["codescale__thermo-1", "codescale__shopcart-1"], base_image=base_image)
    thermo, shop = tasks
    rollouts = {thermo.instance_id: [["", UNRELATED, thermo.patch]], shop.instance_id: [[UNRELATED], [shop.patch]]}
    # no task.json in the run: the tasks are found in the bundled suite, built for $CODESCALE_BASE_IMAGE
    monkeypatch.setenv("CODESCALE_BASE_IMAGE", base_image)
    write_run(tmp_path, tasks, ["", UNRELATED], rollouts, record_tasks=False)
    graded = evaluate(tmp_path, all_candidates=True, workers=2)

    assert [(g.resolved, g.error) for g in graded] == [(False, "empty patch"), (False, "")]
    assert graded[1].failed_tests == shop.FAIL_TO_PASS
    assert [(c.rollout_id, c.generation, c.resolved) for c in graded[0].candidates] == [
        ("g0r0", 0, False), ("g0r1", 0, False), ("g0r2", 0, True),
    ]
    assert graded[0].failed_tests == thermo.FAIL_TO_PASS
    assert (graded[0].passed, graded[0].total, graded[1].passed, graded[1].total) == (1, 3, 1, 2)
    metrics = compute(graded)
    assert metrics.resolved.value == 0.0
    assert metrics.pass_at_1.value == pytest.approx((1 / 3 + 0) / 2)
    assert metrics.oracle.value == 1.0
    assert metrics.per_generation[1].pass_at_1.value == 1.0


@pytest.mark.slow
def test_evaluate_command_prints_summary(docker_client, base_image, tmp_path):
    from typer.testing import CliRunner

    tasks = load_tasks(ids=["codescale__slugkit-1"], base_image=base_image)
    write_run(tmp_path, tasks, [tasks[0].patch])
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "codescale__slugkit-1: resolved" in result.output
    assert "resolved (final answers): 100.0% [100.0, 100.0] (n=1)" in result.output


def test_bootstrap_exact_values():
    assert bootstrap([1.0, 1.0, 1.0]).model_dump() == {"value": 1.0, "low": 1.0, "high": 1.0, "n": 3}
    assert bootstrap([]).model_dump() == {"value": 0.0, "low": 0.0, "high": 0.0, "n": 0}
    interval = bootstrap([1.0, 0.0, 1.0, 0.0])
    assert interval.value == 0.5 and 0.0 <= interval.low < 0.5 < interval.high <= 1.0
    assert bootstrap([1.0, 0.0, 1.0, 0.0]) == interval  # a fixed seed: the same data give the same interval


def test_metrics_exact_values():
    def grade(resolved, *candidates):
        return TaskGrade(instance_id="t", resolved=resolved, candidates=[
            CandidateGrade(rollout_id=f"r{i}", generation=g, resolved=r) for i, (g, r) in enumerate(candidates)
        ])

    grades = [
        grade(True, (0, True), (0, False), (1, True), (1, True)),
        grade(False, (0, False), (0, False), (1, False), (1, True)),
        grade(False, (0, False), (0, False), (1, False), (1, False)),
        grade(True, (0, True), (0, True), (1, True), (1, False)),
    ]
    metrics = compute(grades)
    assert (metrics.tasks, metrics.resolved.value) == (4, 0.5)
    assert metrics.pass_at_1.value == (0.5 + 0 + 0 + 1) / 4
    assert metrics.per_generation[0].oracle.value == 0.5
    assert metrics.per_generation[1].pass_at_1.value == (1 + 0.5 + 0 + 0.5) / 4
    assert metrics.per_generation[1].oracle.value == 0.75
    assert metrics.oracle.value == 0.75
    assert metrics.per_generation[1].rollouts == 8


def test_metrics_without_candidates_has_only_resolved_rate():
    metrics = compute([TaskGrade(instance_id="a", resolved=True), TaskGrade(instance_id="b")])
    assert (metrics.resolved.value, metrics.pass_at_1, metrics.oracle, metrics.per_generation) == (0.5, None, None, {})
