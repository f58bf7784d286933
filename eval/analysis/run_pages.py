"""What the viewer shows of a run (`run_page`) and of one of its tasks (`task_page`), as plain data for its JSON API.

A run is read as it stands, finished or still running: a task without a result line is shown with the rollouts its
folder holds, a trajectory without an exit status as running, and a torn last line of a JSONL file is skipped. The
run page reads the trajectories of unfinished tasks only; a task page reads one task's files.
"""

from __future__ import annotations

import re

from codescale.agent.files import BASE_EVIDENCE
from codescale.agent.records import Trajectory, Usage
from codescale.eval.analysis.bracket import selection_view
from codescale.eval.runs.rundir import RunDir, read_json
from codescale.eval.tasks.verifier import Reward
from codescale.scaling.execution import Evidence
from codescale.scaling.records import Selection, TaskResult

RUNNING = "running"
"""The status shown for a rollout without an exit status, and for a task without a result line."""


def usage_view(usage: Usage) -> dict:
    return {"tokens": usage.tokens, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "requests": usage.requests, "cost_usd": usage.cost_usd}


def run_page(run: RunDir) -> dict:
    """The run: its configuration in brief and every task with its status, outcome, cost and grade."""
    record = run.config()
    config = record.get("config", {})
    results, grades = run.results(), run.grades()
    tasks = []
    for instance_id in run.task_ids():
        result, grade = results.get(instance_id), grades.get(instance_id)
        graded = grade is not None and result is not None  # a grade of a task running again is of an old answer
        row = {"id": instance_id, "resolved": grade.resolved if graded else None,
               "grade_error": grade.error if graded else ""}
        if result is not None:
            statuses = list(result.exit_statuses.values())
            row |= {"status": result.status, "error": result.error, "final": result.final_rollout,
                    "final_status": result.exit_statuses.get(result.final_rollout or "", ""),
                    "rollouts": sum(map(len, result.rollouts)), "running": 0, "submitted": statuses.count("submitted"),
                    "seconds": result.seconds, **usage_view(result.usage.total)}
        else:
            trajs = [read_json(Trajectory, p) for p in run.files(instance_id).trajectories()]
            total = sum((t.usage for t in trajs), Usage())
            row |= {"status": RUNNING, "error": "", "final": None, "final_status": "", "rollouts": len(trajs),
                    "running": sum(t.exit_status is None for t in trajs),
                    "submitted": sum(t.exit_status == "submitted" for t in trajs), "seconds": None,
                    **usage_view(total)}
        tasks.append(row)
    return {
        "name": run.name, "run_id": record.get("run_id", ""), "created": record.get("created", ""),
        "command": record.get("command", ""), "model": config.get("model", {}).get("id", ""),
        "strategy": config.get("scaling", {}).get("strategy", ""), "graded": run.grades_path.is_file(),
        "tasks": tasks,
    }


def context_sources(generations: list[list[str]], selections: list[Selection]) -> dict[str, list[str]]:
    """Refined rollout id -> the rollouts whose summaries it was given (PDR): the winners of the context selection
    of the generation before it, or, with `pdr.context: own` (no such selection), its predecessor of the same index."""
    chosen = {s.stage: s.winners for s in selections}
    sources = {}
    for g, ids in enumerate(generations[1:], 1):
        before = generations[g - 1]
        for i, rid in enumerate(ids):
            own = [before[i]] if i < len(before) else []
            sources[rid] = chosen.get(f"context-g{g - 1}", own)
    return sources


def evidence_view(run: RunDir, instance_id: str, rollout_id: str) -> dict | None:
    """A rollout's execution evidence, check by check (None when it has none)."""
    path = run.files(instance_id).evidence(rollout_id)
    if not path.is_file():
        return None
    record = read_json(Evidence, path)
    return {"applied": record.applied, "error": record.error, "timed_out": record.timed_out,
            "checks": [{"key": key, "passed": sum(tests.values()), "total": len(tests),
                        "failed": sorted(t for t, ok in tests.items() if not ok)} for key, tests in record.results.items()]}


def reward_view(run: RunDir, instance_id: str, rollout_id: str) -> dict | None:
    """A container task's reward for the rollout (None for patch tasks, or before its tests ran)."""
    path = run.files(instance_id).reward(rollout_id)
    return read_json(Reward, path).model_dump(exclude={"rollout_id"}) if path.is_file() else None


def generations_of(run: RunDir, instance_id: str, result: TaskResult | None,
                   trajs: list[Trajectory] | None = None) -> list[list[str]]:
    """Rollout ids per generation: the task's result's, else the trajectories' own (a task still running; `trajs`
    when already read)."""
    if result is not None and result.rollouts:
        return result.rollouts
    if trajs is None:
        trajs = [read_json(Trajectory, p) for p in run.files(instance_id).trajectories()]
    found: list[list[str]] = []
    for traj in sorted(trajs, key=lambda t: [int(part) if part.isdigit() else part
                                             for part in re.split(r"(\d+)", t.rollout_id)]):
        while len(found) <= traj.generation:
            found.append([])
        found[traj.generation].append(traj.rollout_id)
    return found


def task_page(run: RunDir, instance_id: str) -> dict:
    """One task: its statement, every rollout by generation, the brackets, which summaries fed which refined
    rollout, and the execution evidence."""
    files = run.files(instance_id)
    task, result, grade = run.task(instance_id), run.result(instance_id), run.grade(instance_id)
    trajs = {t.rollout_id: t for t in (read_json(Trajectory, p) for p in files.trajectories())}
    selections = run.selections(instance_id)
    generations = generations_of(run, instance_id, result, list(trajs.values()))
    sources = context_sources(generations, selections)
    graded = {c.rollout_id: c.resolved for c in grade.candidates} if grade and result else {}
    rollouts = []
    for g, ids in enumerate(generations):
        for rid in ids:
            traj, summary = trajs.get(rid), run.summary(instance_id, rid)
            rollouts.append({
                "id": rid, "generation": g, "final": result is not None and rid == result.final_rollout,
                "status": (traj.exit_status or RUNNING) if traj else "missing", "error": traj.error if traj else "",
                "steps": len(traj.steps) if traj else 0, "seconds": traj.seconds if traj else 0.0,
                **usage_view(traj.usage if traj else Usage()),
                "patch_lines": len(traj.patch.splitlines()) if traj else 0, "resolved": graded.get(rid),
                "summary": summary.markdown() if summary else None, "fallback": bool(summary and summary.fallback),
                "context_from": sources.get(rid, []), "evidence": evidence_view(run, instance_id, rid),
                "reward": reward_view(run, instance_id, rid),
            })
    return {
        "run": run.name, "id": instance_id, "problem": task.problem_statement if task else "", "kind": task.kind if task else "",
        "status": result.status if result else RUNNING, "error": result.error if result else "",
        "strategy": result.strategy if result else run.config().get("config", {}).get("scaling", {}).get("strategy", ""),
        "final": result.final_rollout if result else None, "resolved": grade.resolved if grade and result else None,
        "grade_error": grade.error if grade and result else "", "seconds": result.seconds if result else None,
        "usage": {phase: usage_view(getattr(result.usage, phase)) for phase in ("rollouts", "summaries", "judge")}
        if result else None,
        "generations": [list(ids) for ids in generations], "rollouts": rollouts,
        "selections": [selection_view(s) for s in selections],
        "base_evidence": evidence_view(run, instance_id, BASE_EVIDENCE),
    }
