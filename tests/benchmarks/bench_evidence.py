"""Does execution evidence help selection? The bundled suite, a scripted population, a judge right 60 % of the time.

    python tests/benchmarks/bench_evidence.py [--out DIR] [--tasks N]

Per bundled task, six rollouts in Docker run scripted plans (tests/benchmarks/evidence_population.py): the gold
fix with a reproduction test or script the "agent" wrote from the issue text, the gold fix plus a change that
breaks an existing test, changes that do not fix the issue, empty ones; one task in four has no gold rollout.
Every summary claims success. The scripted judge knows which candidate is right but picks it in only 60 % of
mixed groups (a hash of the group decides, so all votes of a match agree); when the prompt shows evidence, it
prefers a candidate that broke no test and passes another rollout's reproduction, and falls back to the 60 %
rule when the evidence does not tell the candidates apart. The run (evidence none) is graded from the known
truth of each plan (checked against the hidden tests when the population is built), re-selected with
`select --evidence none,filter,judge,both`, and `compare` prints the four. Then: the expected accuracy
without evidence, computed from the brackets, and the sandbox seconds evidence cost per task against the
rollouts' own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_server and scaling_script
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_server import FakeServer  # noqa: E402
from scaling_script import ScalingScript, candidate_blocks  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from evidence_population import population  # noqa: E402

ORDERS = [
    ["gold_test", "break", "partial", "partial_note", "empty", "gold_script"],
    ["partial", "gold_test", "break", "partial_note", "empty", "empty"],
    ["break", "partial_note", "gold_script", "partial", "empty", "break"],
    ["break", "partial", "partial_note", "empty", "empty", "empty"],
]
"""Rollout plans of task i: ORDERS[i % 4] (the fourth has no gold rollout)."""
RIGHT = ("gold_test", "gold_script")


class Script(ScalingScript):
    """Agent as in ScalingScript; every summary claims success; the judge described in the module docstring."""

    def summarizer(self, body: dict) -> str:
        plan = re.search(r"PLAN (\w+)", body["messages"][-1]["content"]).group(1)
        return (f"## Understanding\nRollout with plan {plan}.\n\n## Evidence\nReproduced the issue; the tests pass "
                f"after the change.\n\n## Final state\nSubmitted, verified by a test.")

    def judge(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        blocks = candidate_blocks(prompt)
        plans = [re.search(r"plan (\w+)", b).group(1).rsplit("_", 1)[0] for b in blocks]
        scores = [evidence_score(b) for b in blocks]
        top = [i for i, s in enumerate(scores) if s == max(scores)]
        if len(top) == 1:
            return f"Candidate {top[0] + 1} has the better evidence.\nANSWER: {top[0] + 1}"
        key = "|".join(sorted(re.search(r"plan (\w+)", blocks[i]).group(1) for i in top))
        right = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100 < 60
        pick = next((i for i in top if (plans[i] in RIGHT) == right), top[0])
        return f"Candidate {pick + 1} looks best.\nANSWER: {pick + 1}"


def evidence_score(block: str) -> int:
    """0 without evidence; else 2 for no broken test plus 1 for passing another rollout's reproduction (or none
    to pass)."""
    kept = re.search(r"(\d+) of (\d+) previously passing tests still pass", block)
    repro = re.search(r"other attempts \(failing before any change\): passes (\d+) of (\d+)", block)
    if not kept:
        return 0
    return 2 * (kept.group(1) == kept.group(2)) + (repro is None or repro.group(2) == "0" or int(repro.group(1)) > 0)


def build(out: Path, count: int, server: FakeServer) -> tuple[dict, dict]:
    """Solve the tasks into `out/run`; (plans per task, truth per plan per task)."""
    from codescale.eval.runs.config import RunConfig
    from codescale.eval.runs.rundir import RunDir
    from codescale.eval.runs.solve import solve
    from codescale.eval.tasks.bundled import suite_ids
    from codescale.eval.tasks.kinds import ensure_images
    from codescale.eval.tasks.load import suite_task
    from codescale.eval.tasks.local_suite import local_repo

    base = os.environ.setdefault("CODESCALE_BASE_IMAGE", "codescale/base:bookworm")
    tasks = [suite_task(i, base_image=base) for i in suite_ids()[:count]]
    ensure_images(tasks)
    commands, orders, truths = {}, {}, {}
    scratch = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    for index, task in enumerate(tasks):
        patches, truth = population(local_repo(task, scratch), scratch / "work")
        name = task.instance_id.split("__")[1].replace("-", "")
        orders[task.instance_id] = [p if p == "empty" or p in patches else "partial" for p in ORDERS[index % 4]]
        truths[task.instance_id] = {**truth, "empty": False}
        for plan, patch in patches.items():
            commands[f"{plan}_{name}"] = [f"git apply - <<'CODESCALE_PATCH'\n{patch}CODESCALE_PATCH"]
    config = RunConfig.model_validate({
        "model": {"id": "openai/fake", "base_url": server.openai_url, "retries": {"attempts": 1}},
        "sandbox": {"kind": "docker"},
        "scaling": {"strategy": "rtv", "n": 6, "concurrency": 2, "rtv": {"votes": 2}},
    })
    run = RunDir(out / "run")
    run.path.mkdir(parents=True)
    run.write_config(config.model_dump(mode="json"), "bench-evidence")
    for task in tasks:
        name = task.instance_id.split("__")[1].replace("-", "")
        server.responder = Script([f"{p}_{name}" if p != "empty" else "empty" for p in orders[task.instance_id]], commands)
        solve(task, config, run, "bench-evidence")
    return orders, truths


def grade(run_dir: Path, truths: dict) -> None:
    """eval.jsonl with every candidate graded from its plan's known truth."""
    from codescale.agent.files import write_atomic
    from codescale.eval.runs.rundir import RunDir
    from codescale.eval.tasks.grading import CandidateGrade, TaskGrade

    run, grades = RunDir.existing(run_dir), []
    for instance_id, result in run.results().items():
        candidates = []
        for rid in result.rollouts[0]:
            traj = run.trajectory(instance_id, rid)
            found = re.match(r"PLAN (\w+)", traj.steps[0].response) if traj and traj.steps else None
            plan = found.group(1).rsplit("_", 1)[0] if found and found.group(1) != "empty" else "empty"
            candidates.append(CandidateGrade(rollout_id=rid, resolved=truths[instance_id].get(plan, False)))
        final = next((c for c in candidates if c.rollout_id == result.final_rollout), None)
        grades.append(TaskGrade(instance_id=instance_id, final_rollout=result.final_rollout,
                                resolved=bool(final and final.resolved), candidates=candidates,
                                passed=sum(c.resolved for c in candidates), total=len(candidates)))
    write_atomic(run.grades_path, "".join(g.model_dump_json() + "\n" for g in grades))


def explain(out: Path) -> None:
    """Where each mode's answers come from: per task, the entrants, mixed matches and the judge's hits; the
    evidence's drops; and the sandbox seconds evidence cost against the rollouts' own."""
    from codescale.eval.analysis.metrics import mixed_matches
    from codescale.eval.analysis.select import evidence_seconds
    from codescale.eval.runs.rundir import RunDir

    runs = {m: RunDir.existing(out / "sel" / m) for m in ("none", "filter", "judge", "both")}
    print("task | oracle | " + " | ".join(f"{m}: entrants, mixed matches judged right/all, resolved" for m in runs))
    totals = {m: [0, 0, 0] for m in runs}
    for instance_id in sorted(runs["none"].results()):
        cells, oracle = [], any(runs["none"].graded_candidates(instance_id).values())
        for mode, run in runs.items():
            graded = run.graded_candidates(instance_id)
            mixed = mixed_matches(run.selections(instance_id), graded)
            right = sum(ok for _, ok in mixed)
            selection = run.selections(instance_id)[-1]
            resolved = run.grades()[instance_id].resolved
            totals[mode][0] += right
            totals[mode][1] += len(mixed)
            totals[mode][2] += resolved
            entrants = "".join("+" if graded.get(c) else "-" for c in selection.candidates)
            cells.append(f"{entrants or '.'} {right}/{len(mixed)} {'Y' if resolved else 'n'}")
        print(f"{instance_id} | {'Y' if oracle else 'n'} | " + " | ".join(cells))
    for mode, (right, mixed, resolved) in totals.items():
        print(f"{mode}: judge right in {right} of {mixed} mixed matches; resolved {resolved} of {len(runs[mode].results())}")
    run = RunDir.existing(out / "run")
    ids = sorted(run.results())
    rollouts = [sum(run.trajectory(i, rid).seconds for rid in run.results()[i].rollouts[0]) for i in ids]
    walls = [run.results()[i].seconds for i in ids]
    evidence = [evidence_seconds(runs["filter"], i) for i in ids]
    print(f"per task: rollouts {sum(rollouts) / len(ids):.1f} s (6 trajectories' own seconds, summed); whole task "
          f"without evidence {sum(walls) / len(ids):.1f} s wall; evidence {sum(evidence) / len(ids):.1f} s of sandbox "
          f"time (base + candidates, summed) = {sum(evidence) / max(sum(rollouts), 1e-9):.1f}x the rollouts' own")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--explain", type=Path, default=None, help="Only explain an earlier --out directory.")
    args = parser.parse_args()
    if args.explain:
        explain(args.explain)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-evidence-out-"))
    from codescale.eval.cli.main import app
    from codescale.eval.runs.rundir import RunDir

    with FakeServer() as server:
        start = time.monotonic()
        orders, truths = build(out, args.tasks, server)
        built = time.monotonic() - start
        grade(out / "run", truths)
        result = CliRunner().invoke(app, ["select", str(out / "run"), "--evidence", "none,filter,judge,both",
                                          "--out", str(out / "sel"), "--workers", "1"])
        print(result.output)
        modes = [str(out / "sel" / m) for m in ("none", "filter", "judge", "both")]
        for path in modes:
            grade(Path(path), truths)
        printed = CliRunner().invoke(app, ["compare", *modes, "--markdown"])
        print(printed.output)
    run = RunDir.existing(out / "run")
    rollout_seconds = [sum(run.trajectory(i, rid).seconds for rid in r.rollouts[0]) for i, r in run.results().items()]
    print(f"rollouts: {sum(rollout_seconds) / len(rollout_seconds):.1f} s of sandbox + model time per task "
          f"(6 rollouts, summed); whole build {built:.0f} s")
    print(json.dumps({"orders": orders, "truths": truths}, indent=None)[:2000])
    explain(out)
    print(f"run directories under {out}")


if __name__ == "__main__":
    main()
