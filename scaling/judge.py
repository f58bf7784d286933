"""The LLM judge of RTV: one prompt per ordering of a group, votes parsed from `ANSWER: <n>` lines.

Each request's prompt delimits the issue and every candidate with tags carrying a fresh random key that none of
their texts contains (agent/templates.py), so a candidate cannot forge another candidate's block or end its own.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from codescale import configs
from codescale.agent.models.base import Model, ModelConfig, ModelError
from codescale.agent.models.spending import Spending
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.records import Task, Trajectory, Usage
from codescale.agent.compact import clip
from codescale.agent.templates import SharedKey, fresh_key, render
from codescale.scaling.compression import compress
from codescale.scaling.limits import reply_cap
from codescale.scaling.records import Summary, Vote

log = logging.getLogger(__name__)

ANSWER = re.compile(r"^\W*ANSWER\W*\s*(?:candidate\s*)?(\d+)\b", re.IGNORECASE | re.MULTILINE)


def _prompts() -> dict:
    return configs.load("scaling")["scaling"]["judge"]


class JudgeConfig(BaseModel):
    """Who judges and what the judge sees. Prompt defaults come from configs/scaling.yaml."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig | None = None
    """The judge's model; None = the agent's model."""
    input: Literal["summary", "summary+diff", "trajectory"] = "summary"
    """What the judge sees of each candidate: its summary, the summary and its patch, or the trajectory itself
    (compressed to `trajectory_tokens`; no summaries are made for it)."""
    show_diff: bool = False
    """Older spelling of `input: summary+diff` (true sets it)."""
    diff_limit: int = 6000
    """Characters of a shown patch; a longer one shows its start and end."""
    trajectory_tokens: int = Field(48000, ge=1000)
    """With `input: trajectory`: bound on all candidates' trajectories in one prompt, in ESTIMATED tokens
    (characters / 4), shared equally; fit it to the judge's context window."""
    batch_votes: bool = True
    """Ask for all votes of one ordering in one call with `n` (one request on openai / vllm servers)."""
    request_attempts: int = Field(2, ge=1)
    """Tries of one judge request (on top of the model's own retries) before its votes count as failed."""
    temperature: float = 1.0
    """Sampling temperature of votes (above 0, so that repeated votes can differ)."""
    max_tokens: int | None = None
    """Cap on the judge's reply per vote; None: fitted to the model (scaling/limits.py: thinking cap + 2048, else
    the model row's `reply_tokens`, else 2048)."""
    thinking: ThinkingConfig | None = None
    """Budget forcing of judge calls; None = the model's default thinking."""
    concurrency: int = Field(8, ge=1)
    """Judge requests in flight at once."""
    system_template: str = Field(default_factory=lambda: _prompts()["system_template"])
    instance_template: str = Field(default_factory=lambda: _prompts()["instance_template"])

    @model_validator(mode="after")
    def _show_diff(self) -> JudgeConfig:
        if self.show_diff and self.input == "summary":
            self.input = "summary+diff"
        return self


def parse_answer(text: str, group_size: int) -> int | None:
    """The index (1-based) named by the last `ANSWER: <n>` line, or None when absent or out of range."""
    found = ANSWER.findall(text)
    if not found:
        return None
    index = int(found[-1])
    return index if 1 <= index <= group_size else None


class Judge:
    """Votes on orderings of candidates of one task; a failed call gives invalid votes, not an error."""

    def __init__(self, config: JudgeConfig, model: ModelConfig, spending: Spending | None = None):
        self.config = config
        self.model = Model(config.model or model, spending)
        self.max_tokens = reply_cap(config.max_tokens, self.model.info, config.thinking)
        self._compressed: dict[tuple[str, int], str] = {}
        self.evidence: dict[str, str] = {}
        """Rollout id -> execution evidence shown beside its summary (set by the population; empty: none shown)."""
        self.issue_keys = SharedKey()
        """The key of the issue's block, one per task: every judge request of a task shares its prompt up to the
        attempts."""

    def shown_trajectory(self, traj: Trajectory | None, share: int) -> str:
        if traj is None:
            return ""
        key = (traj.rollout_id, share)
        if key not in self._compressed:
            self._compressed[key] = compress(traj, max_tokens=share)
        return self._compressed[key]

    def messages(self, task: Task, order: list[str], summaries: dict[str, Summary], patches: dict[str, str],
                 trajectories: dict[str, Trajectory] | None = None) -> list[dict]:
        kind, share = self.config.input, self.config.trajectory_tokens // max(1, len(order))
        candidates = [
            {"index": i, "summary": summaries.get(rid), "patch": clip(patches.get(rid, ""), self.config.diff_limit),
             "trajectory": self.shown_trajectory((trajectories or {}).get(rid), share) if kind == "trajectory" else "",
             "evidence": self.evidence.get(rid, "")}
            for i, rid in enumerate(order, 1)
        ]
        texts = [task.problem_statement] + [c["patch"] + c["trajectory"] + c["evidence"] for c in candidates]
        texts += [c["summary"].markdown() for c in candidates if c["summary"]]
        issue_key = self.issue_keys(task.instance_id, *texts)
        prompt = render(self.config.instance_template, task=task, candidates=candidates, issue_key=issue_key,
                        key=fresh_key(*texts, issue_key),
                        show_diff=kind == "summary+diff", show_trajectory=kind == "trajectory")
        return [{"role": "system", "content": render(self.config.system_template)}, {"role": "user", "content": prompt}]

    def request(self, task: Task, order: list[str], n: int, summaries: dict, patches: dict,
                trajectories: dict | None = None, *, again: bool = False) -> list[Vote]:
        """`n` votes on one ordering from one call (`n` samples; a request each on backends without `n`). A failed
        call is tried again on its own, up to `request_attempts`; then its votes are failed (invalid) votes.
        `again`: the same prompt is asked more than once (its prompt is marked for the provider's cache)."""
        messages = self.messages(task, order, summaries, patches, trajectories)
        for attempt in range(1, self.config.request_attempts + 1):
            try:
                completions = self.model.complete(messages, n=n, max_tokens=self.max_tokens,
                                                  temperature=self.config.temperature, thinking=self.config.thinking,
                                                  cache=again or n > 1)
                break
            except ModelError as e:
                log.warning("judge request on %s failed (try %d of %d): %s", "/".join(order), attempt,
                            self.config.request_attempts, e)
                error = e
        else:
            return [Vote(order=order, response=f"judge call failed: {error}", failed=True) for _ in range(n)]
        usage = sum((c.usage for c in completions), Usage())
        votes = []
        for i, c in enumerate(completions[:n]):
            index = parse_answer(c.text, len(order))
            votes.append(Vote(order=order, response=c.text, choice=order[index - 1] if index else None, usage=usage if i == 0 else Usage()))
        return votes

    def vote(self, task: Task, summaries: dict[str, Summary], patches: dict[str, str], orders: list[list[str]],
             trajectories: dict[str, Trajectory] | None = None) -> list[Vote]:
        """One Vote per ordering (the RTV vote function). With `batch_votes`, the votes on one ordering are one
        call with n = their number; else one call each. Calls run concurrently, up to `concurrency`."""
        counts = Counter(tuple(o) for o in orders)
        calls = [(key, n) for key, count in counts.items() for n in ([count] if self.config.batch_votes else [1] * count)]
        pending: dict[tuple, list[Vote]] = {key: [] for key in counts}
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            futures = [(key, pool.submit(self.request, task, list(key), n, summaries, patches, trajectories,
                                         again=counts[key] > 1))
                       for key, n in calls]
            for key, future in futures:
                pending[key] += future.result()
        return [pending[tuple(o)].pop(0) for o in orders]
