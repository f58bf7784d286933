"""The records of scaling: Summary, Vote, Match, Round, Selection, TaskResult."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from codescale.agent.records import Usage
from codescale.agent.sections import SUMMARY_SECTIONS, sections_markdown


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
    empty_reply: bool = False
    """The summarizer answered with no text (a reasoning model that spent its cap thinking, say)."""
    usage: Usage = Field(default_factory=Usage)
    """The summarizer's calls, chunks included."""
    trajectory_tokens: int = 0
    """Estimated tokens of the rollout's steps in full (replies, thinking, observations)."""
    summary_tokens: int = 0
    """Estimated tokens of this summary (its Markdown)."""
    chunks: int = 0
    """Calls that condensed the rollout's earlier steps chunk by chunk before it was summarized (scaling/chunks.py)."""

    @property
    def compression(self) -> float | None:
        """Summary tokens / trajectory tokens (both estimated the same way); None for a rollout without steps."""
        return self.summary_tokens / self.trajectory_tokens if self.trajectory_tokens else None

    def markdown(self) -> str:
        return sections_markdown(self.model_dump(include=set(SUMMARY_SECTIONS)))


class Vote(BaseModel):
    """One judge sample."""

    order: list[str]
    """Candidate ids in the order shown (Candidate 1 is order[0])."""
    response: str
    choice: str | None = None
    """The candidate id the judge named, or None when the reply could not be parsed (invalid)."""
    usage: Usage = Field(default_factory=Usage)
    """Usage of the request that produced it; with n-batched votes only the first of the request carries it."""
    failed: bool = False
    """The judge request failed (after its retries): no reply at all."""

    @property
    def empty(self) -> bool:
        """A reply with no text (a reasoning model that spent its whole cap thinking, say)."""
        return not self.failed and not self.response.strip()


class Match(BaseModel):
    """One group judged V times."""

    candidates: list[str]
    votes: list[Vote] = []
    tally: dict[str, int] = {}
    winners: list[str] = []
    """Who advances (one, or more for a bye)."""
    tie_break: str = ""
    """How a tie was broken: '' (none), 'revote', or the rule applied after the re-vote."""
    note: str = ""
    """Why the tie rule picked although no plain tie was seen (no valid vote, one ordering unanswered)."""
    bye: bool = False
    identical: bool = False
    """Its candidates' outcomes were identical (normalised): decided by the tie rule without a judge request."""


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
    """Rollout ids that entered the bracket (after dropping empty patches, and merging duplicates when
    `rtv.duplicates` is `merge`)."""
    dropped: dict[str, str] = {}
    """Rollout id -> why it did not enter (empty patch; duplicate of X with `duplicates: merge`)."""
    rounds: list[Round] = []
    winners: list[str] = []
    usage: Usage = Field(default_factory=Usage)


class Reliability(BaseModel):
    """Judge votes and summaries of a task that were not what was asked for."""

    votes: int = 0
    invalid_votes: int = 0
    """Votes naming no candidate of their group: failed requests, empty and unparseable replies."""
    empty_votes: int = 0
    """Replies with no text."""
    failed_votes: int = 0
    """Votes of judge requests that failed after their retries."""
    tie_rule_picks: int = 0
    """Matches settled by the tie rule because votes were missing (no valid vote, one ordering unanswered)."""
    summaries: int = 0
    fallback_summaries: int = 0
    """Summaries written from the trajectory because the summarizer's call failed or its reply had no sections."""
    empty_summaries: int = 0
    """Summarizer replies with no text."""

    @classmethod
    def of(cls, selections: list[Selection], summaries: list[Summary]) -> Reliability:
        matches = [m for s in selections for r in s.rounds for m in r.matches]
        votes = [v for m in matches for v in m.votes]
        return cls(
            votes=len(votes), invalid_votes=sum(v.choice is None for v in votes), empty_votes=sum(v.empty for v in votes),
            failed_votes=sum(v.failed for v in votes), tie_rule_picks=sum(bool(m.note) for m in matches),
            summaries=len(summaries), fallback_summaries=sum(s.fallback for s in summaries),
            empty_summaries=sum(s.empty_reply for s in summaries),
        )


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
    contexts: dict[str, list[str]] = {}
    """PDR: refined rollout id -> the rollout ids whose summaries it was given, in the order shown."""
    exit_statuses: dict[str, str] = {}
    """Rollout id -> exit status."""
    diversity: list[float] = []
    """Per generation: distinct non-empty patches / rollouts (1 = all differ; near 0 = greedy copies)."""
    selection: Selection | None = None
    reliability: Reliability = Field(default_factory=Reliability)
    """Invalid, empty and failed judge votes and fallback summaries, over every selection of the task."""
    usage: PhaseUsage = Field(default_factory=PhaseUsage)
    seconds: float = 0.0
    cap: str = ""
    """Why the task's spending cap (`scaling.max_task_cost`) stopped its model calls, if it did."""
