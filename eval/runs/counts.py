"""What a run of a configuration asks for per task, by construction: rollouts, summaries, and the judge's matches,
votes and requests, counted by playing the real bracket (scaling/rtv.py) with a judge that never ties over candidates
whose patches all differ. Exact for such a task: an empty patch or a match of identical patches costs less, a tied
match is voted again (V more votes). Votes of one ordering are one request when the judge's backend takes `n` and
`judge.batch_votes` is on (openai, vllm, local), else one request each (anthropic)."""

from __future__ import annotations

from pydantic import BaseModel

from codescale.agent.models.providers import endpoint
from codescale.eval.runs.config import ConfigError, RunConfig
from codescale.scaling.records import Vote
from codescale.scaling.rtv import RTVConfig, tournament

BATCHING_APIS = ("openai", "vllm", "local")
"""Client APIs (configs/providers.yaml) that answer `n` samples of one prompt in one request."""


class Counts(BaseModel):
    rollouts: int = 0
    summaries: int = 0
    """At most: every rollout a bracket (judge.input summary or summary+diff) or a refinement context reads."""
    matches: int = 0
    judge_votes: int = 0
    judge_requests: int = 0

    def times(self, factor: int) -> Counts:
        return Counts(**{name: value * factor for name, value in self.model_dump().items()})


def bracket(entrants: int, stop_at: int, rtv: RTVConfig, batched: bool) -> Counts:
    """Matches, votes and judge requests of one RTV bracket over `entrants` distinct candidates, no match tied."""
    requests: list[int] = []

    def decisive(orders: list[list[str]]) -> list[Vote]:
        requests.append(len({tuple(o) for o in orders}) if batched else len(orders))
        return [Vote(order=o, response="", choice=min(o)) for o in orders]

    if entrants <= stop_at:
        return Counts()
    selection = tournament([f"c{i:04d}" for i in range(entrants)], decisive, rtv, seed=0, stop_at=stop_at)
    matches = [m for r in selection.rounds for m in r.matches if not m.bye]
    return Counts(matches=len(matches), judge_votes=sum(len(m.votes) for m in matches), judge_requests=sum(requests))


def judge_batches(config: RunConfig) -> tuple[bool, list[str]]:
    """Whether the judge's votes of one ordering go in one request, and why not when they do not."""
    judge = config.scaling.judge
    model = judge.model or config.model
    api = endpoint(model.id, model.base_url).api
    if not judge.batch_votes:
        return False, ["scaling.judge.batch_votes is off: one request per vote"]
    if api not in BATCHING_APIS:
        return False, [f"{model.id} goes through the {api} API, which takes no `n`: one request per vote"]
    if judge.thinking is not None:
        return False, ["with scaling.judge.thinking set, counted as one request per vote (budget forcing asks for "
                       "each vote on its own on most backends): an upper bound"]
    return True, []


def per_task(config: RunConfig, batched: bool) -> Counts:
    """Rollouts, summaries and judge calls of one task whose rollouts all have distinct non-empty patches."""
    s = config.scaling
    judged = s.judge.input != "trajectory"  # the judge reads summaries
    if s.strategy == "single":
        return Counts(rollouts=1)
    if s.strategy in ("best_of_n", "rtv"):
        final = bracket(s.n, s.rtv.stop_at, s.rtv, batched) if s.strategy == "rtv" else Counts()
        return final.model_copy(update={"rollouts": s.n, "summaries": s.n if s.strategy == "rtv" and judged else 0})
    if s.strategy not in ("pdr", "pdr+rtv"):
        raise ConfigError(f"plan knows no strategy {s.strategy!r}; known: single, best_of_n, rtv, pdr, pdr+rtv")
    counts = Counts(rollouts=s.n * (s.pdr.generations + 1))
    kept = 0
    for _ in range(s.pdr.generations):
        if s.pdr.context == "rtv":
            chosen = bracket(s.n, s.pdr.k, s.rtv, batched)
            counts = _add(counts, chosen)
            counts.summaries += s.n if judged else min(s.pdr.k, s.n)
            kept = min(s.pdr.k, s.n)
        else:  # own: every rollout's predecessor; random: up to every rollout drawn at least once
            counts.summaries += s.n
            kept = s.n
    if s.strategy == "pdr+rtv":
        pool = s.n + (kept if s.pdr.keep_survivors else 0)
        counts = _add(counts, bracket(pool, s.rtv.stop_at, s.rtv, batched))
        counts.summaries += s.n if judged else 0
    return counts


def _add(a: Counts, b: Counts) -> Counts:
    return Counts(**{name: getattr(a, name) + getattr(b, name) for name in Counts.model_fields})
