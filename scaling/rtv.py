"""Recursive Tournament Voting: the bracket itself, driven by a vote function (no model inside).

Each round shuffles the survivors (seeded), cuts them into groups of G and asks for V votes per group,
each vote showing the group in a fresh order (positions balanced: for G = 2, half the votes in each
order). An ordering left without a valid vote (a failed judge request) is asked again once, so that no
match is decided by one ordering alone. The most valid votes wins; a tie (or a match still one-sided) is
re-voted once (V more votes, tallied together with the first V), then broken by `tie_rule`, over all
candidates of a one-sided match or one without a valid vote; such a pick is noted in the Match and logged. A leftover candidate gets a bye. Rounds repeat until `stop_at`
remain; the last round plays only as many matches as needed so that exactly `stop_at` remain.

Every rollout with a non-empty outcome enters (`duplicates: keep`, as in the paper), so a fix that several
rollouts found independently has as many chances to survive; a match whose candidates all have the same
normalised outcome is decided without a judge request, by the tie rule, and marked `identical`.
`duplicates: merge` lets identical outcomes enter once instead (consensus then carries no weight).
"""

from __future__ import annotations

import logging
import random
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from codescale.scaling.records import Match, Round, Selection, Vote

log = logging.getLogger(__name__)

VoteFn = Callable[[list[list[str]]], list[Vote]]
"""Given orderings (candidate ids in the order shown), returns one Vote per ordering, in the same order."""


class RTVConfig(BaseModel):
    """The bracket's shape."""

    model_config = ConfigDict(extra="forbid")

    group_size: int = Field(2, ge=2)
    """G: candidates compared in one judge prompt."""
    votes: int = Field(8, ge=1)
    """V: judge votes per group (and per re-vote)."""
    stop_at: int = Field(1, ge=1)
    """Stop when this many candidates remain; the answer is the first of them."""
    tie_rule: Literal["random", "first"] = "random"
    """After a tied re-vote: a seeded random pick among the tied, or the first of them in shuffled order."""
    duplicates: Literal["keep", "merge"] = "keep"
    """Rollouts with identical (normalised) outcomes: `keep` lets each enter (a match between identical ones costs no
    judge request), `merge` lets the first enter once."""


def normalise_patch(patch: str) -> str:
    """A patch with line endings, trailing whitespace, blob hashes and trailing blank lines ignored.

    Indentation is kept: it changes what Python code does.
    """
    lines = [line.rstrip() for line in patch.replace("\r\n", "\n").split("\n") if not line.startswith("index ")]
    return "\n".join(lines).strip("\n")


def prepare(patches: dict[str, str], empty: str = "empty patch",
            duplicates: Literal["keep", "merge"] = "keep") -> tuple[list[str], dict[str, str]]:
    """The bracket's entrants from rollout id -> patch, and why the others were left out.

    Empty patches drop out (with the reason `empty`) unless all are empty. With `duplicates: merge`, identical
    patches (see `normalise_patch`) merge into their first rollout (in the given order); with `keep` all enter.
    """
    dropped: dict[str, str] = {}
    pool = [rid for rid, patch in patches.items() if patch.strip()]
    if pool:
        dropped.update({rid: empty for rid in patches if rid not in pool})
    else:
        pool = list(patches)
    if duplicates == "keep":
        return pool, dropped
    first: dict[str, str] = {}
    candidates = []
    for rid in pool:
        key = normalise_patch(patches[rid])
        if key in first:
            dropped[rid] = f"duplicate of {first[key]}"
        else:
            first[key] = rid
            candidates.append(rid)
    return candidates, dropped


def vote_orders(group: list[str], votes: int, rng: random.Random) -> list[list[str]]:
    """V orderings of `group`: each block of G votes shows every rotation of a fresh random permutation,
    so every candidate appears in every position equally often when G divides V."""
    orders: list[list[str]] = []
    while len(orders) < votes:
        base = rng.sample(group, len(group))
        orders += [base[i:] + base[:i] for i in range(len(group))]
    return orders[:votes]


def plan_groups(survivors: list[str], group_size: int, stop_at: int) -> list[list[str]]:
    """Cut the (already shuffled) survivors into groups; groups of one are byes.

    Matches are formed while eliminations are still needed, so the round never goes below `stop_at`.
    """
    need = len(survivors) - stop_at
    groups, i = [], 0
    while len(survivors) - i >= 2 and need > 0:
        size = min(group_size, len(survivors) - i, need + 1)
        groups.append(survivors[i : i + size])
        need -= size - 1
        i += size
    return groups + [[rid] for rid in survivors[i:]]


def tally(votes: list[Vote], group: list[str], weights: dict[str, int] | None = None) -> dict[str, int]:
    """Valid votes per candidate, plus its standing votes in `weights` (execution evidence: behaviour group sizes)."""
    counts = {rid: (weights or {}).get(rid, 0) for rid in group}
    for vote in votes:
        if vote.choice is not None:
            counts[vote.choice] += 1
    return counts


def _top(counts: dict[str, int]) -> list[str]:
    best = max(counts.values())
    return [rid for rid, c in counts.items() if c == best]


def _ask(vote: VoteFn, orders: list[list[str]]) -> list[Vote]:
    if not orders:
        return []
    votes = vote(orders)
    if len(votes) != len(orders):
        raise ValueError(f"vote function returned {len(votes)} votes for {len(orders)} orderings")
    for v, order in zip(votes, orders):
        v.order = list(order)
        if v.choice not in order:
            v.choice = None  # a choice outside the group shown is as good as no choice
    return votes


def _vote_blocks(matches: list[Match], vote: VoteFn, config: RTVConfig, rng: random.Random, label: str = "",
                 weights: dict[str, int] | None = None) -> None:
    """V more votes for each match, all matches in one call."""
    orders = {id(m): vote_orders(m.candidates, config.votes, rng) for m in matches}
    votes = _ask(vote, [o for m in matches for o in orders[id(m)]])
    for m in matches:
        m.votes, votes = m.votes + votes[: config.votes], votes[config.votes :]
        m.tally = tally(m.votes, m.candidates, weights)
        m.tie_break = label or m.tie_break


def unanswered(m: Match) -> list[list[str]]:
    """Orderings shown in the match that got no valid vote while another ordering did (position balance lost)."""
    shown = list(dict.fromkeys(tuple(v.order) for v in m.votes))
    valid = {tuple(v.order) for v in m.votes if v.choice is not None}
    return [list(o) for o in shown if o not in valid] if valid else []


def _rerun_unanswered(matches: list[Match], vote: VoteFn, weights: dict[str, int] | None = None) -> None:
    """Ask each unanswered ordering again (as many votes as it had), all matches in one call."""
    asks = {id(m): [v.order for v in m.votes if v.order in unanswered(m)] for m in matches}
    votes = _ask(vote, [o for m in matches for o in asks[id(m)]])
    for m in matches:
        extra, votes = votes[: len(asks[id(m)])], votes[len(asks[id(m)]) :]
        m.votes += extra
        m.tally = tally(m.votes, m.candidates, weights)


def _undecided(m: Match) -> bool:
    return len(_top(m.tally)) > 1 or bool(unanswered(m))


def _decide(m: Match, config: RTVConfig, rng: random.Random) -> None:
    """Winner by the tally; a tie, a match whose votes all came from some orderings only, or one without any
    valid vote is settled by the tie rule (among the tied, else among all), and the reason noted and logged."""
    top, missing = _top(m.tally), unanswered(m)
    if not any(m.tally.values()):
        m.note = f"no valid vote in {len(m.votes)}: the tie rule picks"
    elif missing:
        m.note = (f"ordering(s) {', '.join('/'.join(o) for o in missing)} got no valid vote (asked again too): "
                  f"counted as a tie, the tie rule picks")
        top = list(m.candidates)
    if m.note:
        log.warning("match %s: %s (%s)", " vs ".join(m.candidates), m.note, config.tie_rule)
    if len(top) > 1:
        m.tie_break = config.tie_rule
        top = [rng.choice(top)] if config.tie_rule == "random" else top[:1]
    m.winners = top


def _settle_identical(m: Match, config: RTVConfig, rng: random.Random) -> None:
    """A match whose candidates all have the same outcome: no judge request; the tie rule picks among them."""
    m.identical = True
    m.winners = [rng.choice(m.candidates)] if config.tie_rule == "random" else m.candidates[:1]


def play_round(groups: list[list[str]], vote: VoteFn, config: RTVConfig, rng: random.Random,
               weights: dict[str, int] | None = None, same: dict[str, str] | None = None) -> list[Match]:
    """Judge every group of a round: all first votes in one call; orderings left without a valid vote asked again
    in one call; then all re-votes of undecided matches in one call. `weights` adds a candidate's behaviour-group
    size to its tally (execution evidence); a group whose members all have the same key in `same` (their
    normalised outcome) is settled without a judge request."""
    matches = [Match(candidates=g, bye=len(g) == 1, winners=list(g) if len(g) == 1 else []) for g in groups]
    for m in matches:
        if not m.bye and same and len({same.get(rid, rid) for rid in m.candidates}) == 1:
            _settle_identical(m, config, rng)
    playing = [m for m in matches if not m.bye and not m.identical]
    _vote_blocks(playing, vote, config, rng, weights=weights)
    _rerun_unanswered([m for m in playing if unanswered(m)], vote, weights)
    _vote_blocks([m for m in playing if _undecided(m)], vote, config, rng, label="revote", weights=weights)
    for m in playing:
        _decide(m, config, rng)
    return matches


def tournament(candidates: list[str], vote: VoteFn, config: RTVConfig, *, seed: int, stop_at: int | None = None,
               weights: dict[str, int] | None = None, outcomes: dict[str, str] | None = None) -> Selection:
    """Run the bracket over `candidates` until `stop_at` (default `config.stop_at`) remain; `weights` are standing
    votes added to a candidate's tally in each of its matches; `outcomes` (rollout id -> patch or what stands for
    it) lets a match between identical ones be settled without the judge."""
    stop_at = config.stop_at if stop_at is None else stop_at
    if config.group_size < 2 or config.votes < 1 or stop_at < 1:
        raise ValueError(f"RTV needs group_size >= 2, votes >= 1, stop_at >= 1 (got {config.group_size}, {config.votes}, {stop_at})")
    rng = random.Random(seed)
    selection = Selection(method="rtv", seed=seed, candidates=list(candidates), stop_at=stop_at)
    same = {rid: normalise_patch(text) for rid, text in outcomes.items()} if outcomes else None
    survivors = list(candidates)
    while len(survivors) > stop_at:
        groups = plan_groups(rng.sample(survivors, len(survivors)), config.group_size, stop_at)
        matches = play_round(groups, vote, config, rng, weights, same)
        selection.rounds.append(Round(index=len(selection.rounds), matches=matches))
        survivors = [rid for m in matches for rid in m.winners]
    selection.winners = survivors
    for r in selection.rounds:
        for m in r.matches:
            for v in m.votes:
                selection.usage = selection.usage + v.usage
    return selection
