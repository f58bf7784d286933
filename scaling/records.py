"""The records of scaling: Summary, Vote, Match, Round, Selection, TaskResult."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from codescale.agent.records import Usage

SUMMARY_SECTIONS = {
    "understanding": "Understanding",
    "hypotheses": "Hypotheses",
    "actions": "Actions",
    "evidence": "Evidence",
    "failure_modes": "Failure modes",
    "final_state": "Final state",
    "lessons": "Lessons",
}
"""Summary field -> its `## ` heading in the summarizer's reply and in prompts."""


class Summary(BaseModel):
    """A compact, structured account of one rollout, for judges and for refinement prompts."""

    task_id: str
    rollout_id: str
    understanding: str = ""
    hypotheses: str = ""
    actions: str = ""
    evidence: str = ""
    failure_modes: str = ""
    final_state: str = ""
    lessons: str = ""
    fallback: bool = False
    """True when written deterministically from the trajectory because the LLM call failed."""
    error: str = ""
    """Why the LLM summary was not used (fallback only)."""
    usage: Usage = Field(default_factory=Usage)

    def markdown(self) -> str:
        return "\n\n".join(
            f"## {heading}\n{getattr(self, field).strip()}"
            for field, heading in SUMMARY_SECTIONS.items()
            if getattr(self, field).strip()
        )


class Vote(BaseModel):
    """One judge sample."""

    order: list[str]
    """Candidate ids in the order shown (Candidate 1 is order[0])."""
    response: str
    choice: str | None = None
    """The candidate id the judge named, or None when the reply could not be parsed (invalid)."""
    usage: Usage = Field(default_factory=Usage)
    """Usage of the request that produced it; with n-batched votes only the first of the request carries it."""


class Match(BaseModel):
    """One group judged V times."""

    candidates: list[str]
    votes: list[Vote] = []
    tally: dict[str, int] = {}
    winners: list[str] = []
    """Who advances (one, or more for a bye)."""
    tie_break: str = ""
    """How a tie was broken: '' (none), 'revote', or the rule applied after the re-vote."""
    bye: bool = False


class Round(BaseModel):
    index: int
    matches: list[Match] = []


class Selection(BaseModel):
    """A whole bracket, round by round."""

    method: str = "rtv"
    """`rtv`, or `random` (a seeded pick: best_of_n, pdr)."""
    stage: str = "final"
    """What it chose: `final` (the answer) or `context-g<g>` (PDR's refinement context from generation g)."""
    seed: int = 0
    stop_at: int = 1
    candidates: list[str] = []
    """Rollout ids that entered the bracket (after dropping empty patches and merging duplicates)."""
    dropped: dict[str, str] = {}
    """Rollout id -> why it did not enter (empty patch, duplicate of X)."""
    rounds: list[Round] = []
    winners: list[str] = []
    usage: Usage = Field(default_factory=Usage)


class PhaseUsage(BaseModel):
    rollouts: Usage = Field(default_factory=Usage)
    summaries: Usage = Field(default_factory=Usage)
    judge: Usage = Field(default_factory=Usage)

    @property
    def total(self) -> Usage:
        return self.rollouts + self.summaries + self.judge


class TaskResult(BaseModel):
    """One task of a run: the answer, how it was chosen and what it cost. One line of results.jsonl."""

    instance_id: str
    strategy: str
    status: Literal["done", "error"] = "done"
    error: str = ""
    final_rollout: str | None = None
    final_patch: str = ""
    rollouts: list[list[str]] = []
    """Rollout ids per generation."""
    exit_statuses: dict[str, str] = {}
    """Rollout id -> exit status."""
    diversity: list[float] = []
    """Per generation: distinct non-empty patches / rollouts (1 = all differ; near 0 = greedy copies)."""
    selection: Selection | None = None
    usage: PhaseUsage = Field(default_factory=PhaseUsage)
    seconds: float = 0.0
