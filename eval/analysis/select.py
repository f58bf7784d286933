"""`codescale select RUN_DIR --out NEW_RUN_DIR`: run only the final selection again over a run's saved rollouts.

The agent is not called: the new run directory holds hard links (or copies, across file systems) of the old
trajectories, summaries, task records and PDR context selections, and a new `selection.json` per task made
with the new settings (another strategy, vote count, judge, seed, ...). When the old run's candidates were
graded (`evaluate --all-candidates`), the new run's eval.jsonl is written from those grades, without grading.
With `--curves`, it writes the old run's selection curves instead (eval/curves.py).

Execution evidence (`scaling.selection.evidence`) saved in the old run's task directories is linked and reused;
`reselect_modes` re-selects once per evidence mode, each mode reusing the evidence an earlier one gathered.
"""

from __future__ import annotations

import copy
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codescale.agent.files import is_evidence
from codescale.eval.runs.config import ConfigError, RunConfig, apply, validate
from codescale.eval.runs.opening import open_run
from codescale.eval.runs.rundir import RecordError, RunDir
from codescale.eval.runs.saved import saved_population
from codescale.eval.tasks.grading import TaskGrade
from codescale.scaling.base import SELECTORS
from codescale.scaling.records import Selection, TaskResult


def select_config(run: RunDir, strategy: str | None, overrides: list[str] = (), flags: dict | None = None) -> RunConfig:
    """The old run's resolved configuration with the strategy name, `-c` overrides and flags applied."""
    tree = copy.deepcopy(run.config().get("config") or {})
    if not tree:
        raise RecordError(f"{run.path}/run.yaml: field 'config' is missing")
    config = validate(apply(tree, overrides, {"scaling.strategy": strategy, **(flags or {})}),
                      f"{run.path}/run.yaml with the overrides")
    if config.scaling.strategy not in SELECTORS:
        raise ConfigError(f"select cannot re-select for strategy {config.scaling.strategy!r}; "
                          f"give --strategy, one of: {', '.join(SELECTORS)}")
    return config


def link(source: Path, target: Path) -> None:
    """`target` as a hard link of `source`, or a byte copy where links are not possible."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def final_pool(result: TaskResult, contexts: list[Selection]) -> list[str]:
    """The rollouts the final selection chose among, in the order the strategy gave them: the last generation,
    then (PDR with keep_survivors) the context winners that entered it."""
    last = list(result.rollouts[-1]) if result.rollouts else []
    entered = set(last)
    if result.selection is not None:
        entered = set(result.selection.candidates) | set(result.selection.dropped)
    pool = list(last)
    for selection in contexts:
        pool += [rid for rid in selection.winners if rid in entered and rid not in pool]
    return pool


def reselect_task(run: RunDir, instance_id: str, config: RunConfig, out: RunDir, evidence_from: RunDir | None = None,
                  run_id: str = "") -> TaskResult:
    """The new result of one task; its files are linked into `out` and the new selection written there (and the
    execution evidence saved in `evidence_from`'s task directory, when given)."""
    old = run.results()[instance_id]
    source, target = run.task_dir(instance_id), out.make_task_dir(instance_id)
    final = run.files(instance_id).selection()
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name != final.name and not path.name.startswith("."):
            link(path, target / path.name)
    if evidence_from is not None and evidence_from.task_dir(instance_id).is_dir():
        for path in sorted(evidence_from.task_dir(instance_id).iterdir()):
            if is_evidence(path.name) and not (target / path.name).exists():
                link(path, target / path.name)
    if old.status == "error" or not old.rollouts:
        return old
    population = saved_population(run, instance_id, config, task_dir=target, run_id=run_id)
    contexts = list(population.selections)  # their judge usage stays part of this answer's cost
    pool = final_pool(old, contexts)
    if SELECTORS[config.scaling.strategy] == "rtv":
        final = population.select_rtv(pool, stop_at=population.config.rtv.stop_at)
    else:
        final = population.select_random(pool)
    result = population.result(config.scaling.strategy, final)
    result.seconds += old.seconds  # the rollouts' time is part of this answer's; the old selection's is kept too
    return result


def reused_grades(run: RunDir, results: list[TaskResult]) -> list[TaskGrade] | None:
    """eval.jsonl lines for the new results from the old candidate grades; None when some answer was not graded."""
    rows = []
    for result in results:
        old = run.grades().get(result.instance_id)
        if old is None:
            return None
        if result.final_rollout == old.final_rollout:
            rows.append(old)
            continue
        found = {c.rollout_id: c for c in old.candidates}.get(result.final_rollout or "")
        if found is None:
            return None
        grade = TaskGrade(instance_id=result.instance_id, final_rollout=result.final_rollout, resolved=found.resolved,
                          failed_tests=found.failed_tests, error=found.error, reward=found.reward, candidates=old.candidates,
                          passed=old.passed, total=old.total)
        rows.append(grade)
    return rows


def reselect(source: Path, out: Path, config: RunConfig, workers: int = 4,
             evidence_from: Path | None = None) -> tuple[list[TaskResult], bool]:
    """Re-select every task of the run at `source` into a new run directory `out`; (results, grades reused).
    Execution evidence saved under `evidence_from` (a run re-selected from the same source) is reused too."""
    run = RunDir.existing(source)
    opened = open_run(out, config, command="select", overwrite=None, say=lambda line: None,
                      calls_model=SELECTORS.get(config.scaling.strategy) == "rtv", source=str(run.path),
                      source_run_id=run.config().get("run_id", ""))  # Ctrl-C removes its evidence sandboxes
    target, run_id = opened.dir, opened.run_id
    ids = list(run.results())
    with ThreadPoolExecutor(max(1, workers)) as pool:
        earlier = RunDir(evidence_from) if evidence_from else None
        results = list(pool.map(lambda i: reselect_task(run, i, config, target, earlier, run_id), ids))
    for result in results:
        target.append_result(result, model_name=config.model.id)
    grades = reused_grades(run, results) if run.grades() else None
    if grades is not None:
        target.write_grades(grades)
    return results, grades is not None


EVIDENCE_MODES = ("none", "filter", "judge", "both")


def reselect_modes(source: Path, out: Path, config: RunConfig, modes: list[str], workers: int = 4) -> dict[str, tuple[list[TaskResult], bool]]:
    """Re-select `source` once per evidence mode into `out/<mode>`; evidence is gathered once (by the first mode
    that needs it, unless the source run saved it) and reused by the others."""
    unknown = [m for m in modes if m not in EVIDENCE_MODES]
    if unknown:
        raise ConfigError(f"--evidence {','.join(modes)}: unknown mode {unknown[0]!r}; known: {', '.join(EVIDENCE_MODES)}")
    done, gathered = {}, None
    for mode in modes:
        mode_config = config.model_copy(deep=True)
        mode_config.scaling.selection.evidence = mode
        done[mode] = reselect(source, out / mode, mode_config, workers, evidence_from=gathered)
        if mode != "none" and gathered is None:
            gathered = out / mode
    return done


def evidence_seconds(run: RunDir, instance_id: str) -> float:
    """Sandbox seconds the execution evidence of one task cost (its base and candidate records; 0 without)."""
    from codescale.scaling.execution import Evidence

    return sum(Evidence.model_validate_json(p.read_text()).seconds for p in run.files(instance_id).evidences())


def evidence_lines(run: RunDir, instance_id: str, rollout_id: str) -> str:
    """A rollout's saved execution evidence, one line per check (passed / run), or '' when it has none."""
    from codescale.scaling.execution import Evidence

    path = run.files(instance_id).evidence(rollout_id)
    if not path.is_file():
        return ""
    record = Evidence.model_validate_json(path.read_text())
    if record.error or not record.applied:
        return record.error or "the code part does not apply to the base commit"
    lines = [f"check {key}: {sum(tests.values())} of {len(tests)} passed" + (" (timed out)" if key in record.timed_out else "")
             for key, tests in record.results.items()]
    failed = sorted(tid for tests in record.results.values() for tid, ok in tests.items() if not ok)
    return "\n".join(lines + ([f"failed: {', '.join(failed[:10])}"] if failed else []))
