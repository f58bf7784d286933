"""The rollouts of one task under a strategy: generations run concurrently, summaries, selections, usage.

Its files in the task directory (agent/files.py): the trajectories (written by the rollout function), the
summaries, the final selection and PDR's context selections.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from codescale.agent.models.base import ModelConfig
from codescale.agent.models.spending import Spending
from codescale.agent.files import TaskFiles
from codescale.agent.records import Task, Trajectory, Usage
from codescale.scaling.behaviour import Applied, use_evidence
from codescale.scaling.execution_run import Gatherer
from codescale.scaling.judge import Judge
from codescale.scaling.records import PhaseUsage, Reliability, Selection, Summary, TaskResult
from codescale.scaling.rtv import prepare, tournament
from codescale.scaling.sampling import diversity
from codescale.scaling.summarizer import Summarizer

if TYPE_CHECKING:
    from codescale.scaling.base import RolloutFn, ScalingConfig

log = logging.getLogger(__name__)


class Population:
    """Everything a strategy did for one task, kept so that it can be recorded in the TaskResult."""

    def __init__(self, config: ScalingConfig, task: Task, *, rollout: RolloutFn, model: ModelConfig, task_dir: Path,
                 run_id: str = ""):
        self.config = config
        self.run_id = run_id
        self.task = task
        self.rollout = rollout
        self.model = model
        self.task_dir = Path(task_dir)
        self.files = TaskFiles(task_dir)
        self.generations: list[list[str]] = []
        self.trajectories: dict[str, Trajectory] = {}
        self.summaries: dict[str, Summary] = {}
        self.selections: list[Selection] = []
        self.contexts: dict[str, list[str]] = {}
        """Refined rollout id -> the rollout ids whose summaries it was given (PDR)."""
        self.start = time.monotonic()
        self._summarizer: Summarizer | None = None
        self._judge: Judge | None = None
        self.evidence_seconds = 0.0
        """Sandbox seconds spent gathering execution evidence (cached checks cost none)."""
        self.spending = Spending(config.max_task_cost)
        """The task's spending cap: every model call of its rollouts, summaries and votes counts against it."""

    # --- rollouts ----------------------------------------------------------------------------

    def run_generation(self, contexts: list[str]) -> list[str]:
        """One rollout per refinement context (each in its own sandbox, up to `concurrency` at once); their ids."""
        generation = len(self.generations)
        ids = [f"g{generation}-r{i}" for i in range(len(contexts))]
        self.generations.append(ids)
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            trajs = list(pool.map(partial(self._run_one, generation), ids, contexts))
        self.trajectories.update({t.rollout_id: t for t in trajs})
        return ids

    def _run_one(self, generation: int, rollout_id: str, context: str) -> Trajectory:
        try:
            return self.rollout(self.task, rollout_id=rollout_id, generation=generation, refinement_context=context,
                                spending=self.spending)
        except Exception as e:  # one broken rollout must not sink the others: record it and go on
            log.exception("rollout %s of %s raised", rollout_id, self.task.instance_id)
            path = self.files.trajectory(rollout_id)
            try:
                traj = Trajectory.load(path)
            except Exception:
                traj = Trajectory(
                    task_id=self.task.instance_id, rollout_id=rollout_id, generation=generation,
                    model=self.model.id, refinement_context=context,
                )
            traj.exit_status = traj.exit_status or "sandbox_error"
            traj.error = f"the rollout raised {type(e).__name__}: {e}"
            traj.save(path)
            return traj

    def outcomes(self, ids: list[str]) -> dict[str, str]:
        """Rollout id -> what stands for its outcome (its task kind's `outcome_text`: for a patch task, the patch)."""
        return {rid: self.task.outcome_text(self.trajectories[rid]) for rid in ids}

    # --- summaries and selection -------------------------------------------------------------

    def summarize(self, ids: list[str]) -> list[Summary]:
        """Summaries of these rollouts (made once, concurrently, saved as `<id>.summary.json`; one saved by an
        earlier session of a resumed run is used as it is)."""
        for rid in ids:
            saved = self.files.summary(rid)
            if rid not in self.summaries and saved.exists():
                self.summaries[rid] = Summary.model_validate_json(saved.read_text())
                self.spending.add(self.summaries[rid].usage)  # the task's cap spans sessions
        missing = [rid for rid in ids if rid not in self.summaries]
        if missing:
            if self._summarizer is None:
                self._summarizer = Summarizer(self.config.summarizer, self.model, self.spending)
            with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
                made = list(pool.map(lambda rid: self._summarizer.summarize(self.task, self.trajectories[rid]), missing))
            for summary in made:
                self.summaries[summary.rollout_id] = summary
                self.files.save(self.files.summary(summary.rollout_id), summary)
        return [self.summaries[rid] for rid in ids]

    def seed(self, stage: str) -> int:
        """The seed of one selection, from the configured seed, the task and the stage (logged in the record)."""
        key = f"{self.config.seed}:{self.task.instance_id}:{stage}".encode()
        return int(hashlib.sha256(key).hexdigest()[:8], 16)

    def select_rtv(self, ids: list[str], *, stop_at: int, stage: str = "final") -> Selection:
        """RTV over these rollouts (empty patches dropped; identical ones kept or merged, `rtv.duplicates`) until
        `stop_at` remain."""
        candidates, dropped = prepare(self.outcomes(ids), self.task.empty_reason, self.config.rtv.duplicates)
        evidence = self.evidence(candidates, dropped)
        candidates = evidence.candidates if evidence else candidates
        if self.config.judge.input != "trajectory":  # summaries only where the judge reads them
            self.summarize(candidates)
        if self._judge is None:
            self._judge = Judge(self.config.judge, self.model, self.spending)
        self._judge.evidence = evidence.texts if evidence else {}
        vote = partial(self._judge.vote, self.task, self.summaries, self.outcomes(candidates), trajectories=self.trajectories)
        selection = tournament(candidates, vote, self.config.rtv, seed=self.seed(stage), stop_at=stop_at,
                               weights=evidence.weights if evidence else None, outcomes=self.outcomes(candidates))
        selection.stage, selection.dropped = stage, {**dropped, **(evidence.dropped if evidence else {})}
        return self._record(selection)

    def evidence(self, candidates: list[str], dropped: dict[str, str]) -> Applied | None:
        """Execution evidence on these entrants (`scaling.selection`), facing every rollout's reproductions; None
        when it is off. Gathered in fresh sandboxes, cached in the task directory."""
        patches = {rid: self.trajectories[rid].patch for rid in candidates}
        if self.config.selection.evidence == "none" or len(candidates) < 2 or not any(p.strip() for p in patches.values()):
            return None  # off, nothing to choose between, or no patches (a task whose outcome is its container)
        gatherer = Gatherer(self.config.selection, self.task, self.task_dir, run_id=self.run_id)
        authors = {rid: t.patch for rid, t in self.trajectories.items()}
        gathered = gatherer.gather(patches, authors)
        self.evidence_seconds += gathered.seconds
        return use_evidence(self.config.selection, gathered, candidates, dropped)

    def select_random(self, ids: list[str], *, k: int = 1, stage: str = "final") -> Selection:
        """A seeded uniform pick of k rollouts among those with a non-empty patch (among all when none has one)."""
        return self._record(self._random(ids, k, 1, stage)[0])

    def draw_random(self, ids: list[str], *, k: int, draws: int, stage: str) -> list[list[str]]:
        """`draws` independent seeded picks of k rollouts (each as `select_random` picks), recorded as one selection
        whose winners are every rollout drawn at least once."""
        selection, picks = self._random(ids, k, draws, stage)
        self._record(selection)
        return picks

    def _random(self, ids: list[str], k: int, draws: int, stage: str) -> tuple[Selection, list[list[str]]]:
        pool = [rid for rid, shown in self.outcomes(ids).items() if shown.strip()] or list(ids)
        seed = self.seed(stage)
        rng = random.Random(seed)
        picks = [rng.sample(pool, min(k, len(pool))) for _ in range(draws)]
        winners = list(dict.fromkeys(rid for pick in picks for rid in pick))
        dropped = {rid: self.task.empty_reason for rid in ids if rid not in pool}
        selection = Selection(method="random", stage=stage, seed=seed, stop_at=k, candidates=pool, dropped=dropped,
                              winners=winners)
        return selection, picks

    def _record(self, selection: Selection) -> Selection:
        self.selections.append(selection)
        self.files.save(self.files.selection(selection.stage), selection)
        return selection

    # --- the result --------------------------------------------------------------------------

    def result(self, strategy: str, final: Selection) -> TaskResult:
        answer = final.winners[0] if final.winners else None
        total = lambda items: sum(items, Usage())  # noqa: E731
        return TaskResult(
            instance_id=self.task.instance_id,
            strategy=strategy,
            final_rollout=answer,
            final_patch=self.trajectories[answer].patch if answer else "",
            rollouts=self.generations,
            contexts=self.contexts,
            exit_statuses={rid: t.exit_status or "" for rid, t in self.trajectories.items()},
            diversity=[diversity(list(self.outcomes(ids).values())) for ids in self.generations],
            selection=final,
            reliability=Reliability.of(self.selections, list(self.summaries.values())),
            usage=PhaseUsage(
                rollouts=total(t.usage for t in self.trajectories.values()),
                summaries=total(s.usage for s in self.summaries.values()),
                judge=total(s.usage for s in self.selections),
            ),
            seconds=time.monotonic() - self.start,
            cap=self.spending.reached(),
        )
