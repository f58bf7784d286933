"""The RTV bracket driven by scripted judges (plain vote functions, no model)."""

from __future__ import annotations

import math
import re
import random
from collections import Counter
from functools import cache

import pytest

from codescale.scaling.records import Vote
from codescale.scaling.rtv import RTVConfig, normalise_patch, plan_groups, prepare, tournament, vote_orders

IDS = [f"r{i:02d}" for i in range(16)]


class Scripted:
    """A vote function from a rule `(order, call_index) -> chosen id or None`; it logs every call."""

    def __init__(self, rule):
        self.rule = rule
        self.calls: list[list[list[str]]] = []

    def __call__(self, orders):
        self.calls.append(orders)
        return [Vote(order=o, response="", choice=self.rule(o, len(self.calls) - 1)) for o in orders]


def prefers_smallest(order, call):
    return min(order)


def first_shown(order, call):
    return order[0]


def test_sixteen_candidates_narrow_8_4_2_1_with_exact_votes():
    judge = Scripted(prefers_smallest)
    sel = tournament(IDS, judge, RTVConfig(), seed=7)
    assert [len(r.matches) for r in sel.rounds] == [8, 4, 2, 1]
    assert [sum(len(m.winners) for m in r.matches) for r in sel.rounds] == [8, 4, 2, 1]
    for r in sel.rounds:
        for m in r.matches:
            loser = max(m.candidates)
            assert len(m.votes) == 8 and m.tally == {min(m.candidates): 8, loser: 0} and m.tie_break == ""
            assert m.winners == [min(m.candidates)]
    assert sel.winners == ["r00"]
    assert [len(call) for call in judge.calls] == [64, 32, 16, 8]  # one call per round, no re-votes
    assert sum(len(m.votes) for r in sel.rounds for m in r.matches) == 120


def test_each_match_shows_both_orders_equally_often_for_g2():
    sel = tournament(IDS, Scripted(prefers_smallest), RTVConfig(), seed=3)
    for r in sel.rounds:
        for m in r.matches:
            orders = Counter(tuple(v.order) for v in m.votes)
            assert sorted(orders.values()) == [4, 4] and set(orders) == {tuple(m.candidates), tuple(m.candidates[::-1])}


def test_vote_orders_balance_positions_for_larger_groups():
    orders = vote_orders(["a", "b", "c"], 6, random.Random(0))
    assert len(orders) == 6 and all(sorted(o) == ["a", "b", "c"] for o in orders)
    for position in range(3):
        assert Counter(o[position] for o in orders) == {"a": 2, "b": 2, "c": 2}


def test_odd_vote_count_splits_as_evenly_as_possible():
    orders = vote_orders(["a", "b"], 5, random.Random(1))
    assert sorted(Counter(tuple(o) for o in orders).values()) == [2, 3]


def test_a_position_biased_judge_ties_then_the_tie_rule_decides():
    judge = Scripted(first_shown)
    sel = tournament(["a", "b"], judge, RTVConfig(votes=8, tie_rule="random"), seed=1)
    (m,) = sel.rounds[0].matches
    assert len(judge.calls) == 2 and [len(c) for c in judge.calls] == [8, 8]
    assert len(m.votes) == 16 and m.tally == {"a": 8, "b": 8}
    assert m.tie_break == "random" and m.winners == sel.winners and sel.winners[0] in ("a", "b")


def test_tie_rule_first_takes_the_first_in_shuffled_order():
    sel = tournament(["a", "b", "c", "d"], Scripted(first_shown), RTVConfig(tie_rule="first"), seed=5)
    for m in sel.rounds[0].matches:
        assert m.tie_break == "first" and m.winners == m.candidates[:1]


def test_a_tie_broken_by_the_revote():
    judge = Scripted(lambda order, call: order[0] if call == 0 else "b")
    sel = tournament(["a", "b"], judge, RTVConfig(votes=8), seed=0)
    (m,) = sel.rounds[0].matches
    assert m.tally == {"a": 4, "b": 12} and m.tie_break == "revote" and sel.winners == ["b"]


def test_invalid_votes_do_not_count():
    judge = Scripted(lambda order, call: None if call == 0 else "a")
    sel = tournament(["a", "b"], judge, RTVConfig(votes=4), seed=0)
    (m,) = sel.rounds[0].matches
    assert [v.choice for v in m.votes] == [None] * 4 + ["a"] * 4
    assert m.tally == {"a": 4, "b": 0} and m.tie_break == "revote" and sel.winners == ["a"]


def test_a_choice_outside_the_group_is_invalid():
    sel = tournament(["a", "b"], Scripted(lambda order, call: "zzz" if call == 0 else "b"), RTVConfig(votes=2), seed=0)
    assert sel.rounds[0].matches[0].tally == {"a": 0, "b": 2}


def test_leftover_candidates_get_byes():
    sel = tournament(IDS[:5], Scripted(prefers_smallest), RTVConfig(), seed=2)
    shapes = [[(len(m.candidates), m.bye) for m in r.matches] for r in sel.rounds]
    assert shapes == [[(2, False), (2, False), (1, True)], [(2, False), (1, True)], [(2, False)]]
    bye = sel.rounds[0].matches[2]
    assert bye.votes == [] and bye.winners == bye.candidates
    assert sel.winners == ["r00"]


def test_stop_at_k_keeps_k():
    judge = Scripted(prefers_smallest)
    sel = tournament(IDS, judge, RTVConfig(), seed=4, stop_at=4)
    assert [len(r.matches) for r in sel.rounds] == [8, 4] and sel.stop_at == 4
    assert len(sel.winners) == 4 and "r00" in sel.winners
    assert [len(call) for call in judge.calls] == [64, 32]


def test_stop_at_plays_only_the_matches_needed():
    assert plan_groups(list("abcdef"), 2, 4) == [["a", "b"], ["c", "d"], ["e"], ["f"]]
    assert plan_groups(list("abcdef"), 4, 1) == [["a", "b", "c", "d"], ["e", "f"]]
    assert plan_groups(list("abcd"), 4, 2) == [["a", "b", "c"], ["d"]]
    sel = tournament(list("abcdef"), Scripted(prefers_smallest), RTVConfig(), seed=0, stop_at=4)
    assert len(sel.rounds) == 1 and len(sel.winners) == 4


def test_no_rounds_when_already_at_stop_at():
    judge = Scripted(prefers_smallest)
    sel = tournament(["a", "b"], judge, RTVConfig(), seed=0, stop_at=2)
    assert sel.rounds == [] and sel.winners == ["a", "b"] and judge.calls == []


def test_same_seed_same_bracket_other_seed_other_groups():
    one = tournament(IDS, Scripted(prefers_smallest), RTVConfig(), seed=11)
    two = tournament(IDS, Scripted(prefers_smallest), RTVConfig(), seed=11)
    three = tournament(IDS, Scripted(prefers_smallest), RTVConfig(), seed=12)
    assert one.model_dump() == two.model_dump()
    assert [m.candidates for m in one.rounds[0].matches] != [m.candidates for m in three.rounds[0].matches]


PATCHES = {
    "g0-r0": "diff --git a/x b/x\nindex 1..2\n+fix  \n",
    "g0-r1": "",
    "g0-r2": "diff --git a/x b/x\r\nindex 3..4\r\n+fix\r\n\r\n",
    "g0-r3": "diff --git a/x b/x\n+    fix\n",
    "g0-r4": "  \n",
}


def test_empty_patches_drop_out_and_every_other_rollout_enters_by_default():
    candidates, dropped = prepare(PATCHES)
    assert candidates == ["g0-r0", "g0-r2", "g0-r3"]
    assert dropped == {"g0-r1": "empty patch", "g0-r4": "empty patch"}


def test_duplicates_merge_when_asked():
    candidates, dropped = prepare(PATCHES, duplicates="merge")
    assert candidates == ["g0-r0", "g0-r3"]
    assert dropped == {"g0-r1": "empty patch", "g0-r4": "empty patch", "g0-r2": "duplicate of g0-r0"}


def test_all_empty_patches_stay():
    assert prepare({"a": "", "b": " "}) == (["a", "b"], {})
    assert prepare({"a": "", "b": " "}, duplicates="merge") == (["a"], {"b": "duplicate of a"})


def test_a_match_of_identical_patches_is_decided_without_the_judge():
    judge = Scripted(prefers_smallest)
    outcomes = {"a": "+fix\n", "b": "+fix  \r\n", "c": "+other\n", "d": "+fix\n"}
    sel = tournament(list(outcomes), judge, RTVConfig(), seed=0, outcomes=outcomes)
    matches = [m for r in sel.rounds for m in r.matches]
    identical = [m for m in matches if m.identical]
    assert identical and all(m.votes == [] and len(m.winners) == 1 and m.winners[0] in m.candidates for m in identical)
    assert all({outcomes[c].strip() for c in m.candidates} == {"+fix"} for m in identical)
    asked = [tuple(sorted(o)) for call in judge.calls for o in call]
    assert all(pair not in asked for m in identical for pair in [tuple(sorted(m.candidates))])
    assert len(asked) == 8 * (len(matches) - len(identical))  # judged matches only, 8 votes each


def test_indentation_is_not_normalised_away():
    assert normalise_patch("+  x\n") != normalise_patch("+    x\n")


# ---- statistics: simulated judge vs an exact computation over the bracket -------------------------


def simulated_judge(correct: set[str], p: float, invalid: float, rng: random.Random):
    """Each vote is invalid with probability `invalid`; otherwise, in a mixed group, it names a correct
    candidate with probability p (uniformly among them), else an incorrect one; in a pure group, anyone."""

    def vote(orders):
        votes = []
        for order in orders:
            good = [c for c in order if c in correct]
            bad = [c for c in order if c not in correct]
            if rng.random() < invalid:
                choice = None
            elif good and bad:
                choice = rng.choice(good) if rng.random() < p else rng.choice(bad)
            else:
                choice = rng.choice(order)
            votes.append(Vote(order=order, response="", choice=choice))
        return votes

    return vote


def _compositions(total: int, parts: int):
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def _multinomial(counts, probs) -> float:
    out = math.factorial(sum(counts))
    for c, q in zip(counts, probs):
        out = out / math.factorial(c) * q**c
    return out


@cache
def exact_match_win(k: int, s: int, p: float, invalid: float, votes: int) -> float:
    """P(the winner of a group of s with k correct is correct), by enumerating vote tallies:
    categories are the s candidates (correct ones first) plus 'invalid'; a tie re-votes once (tallies add),
    then a uniform pick among the tied (the tie rules are uniform over the tied by symmetry)."""
    if k == 0 or k == s:
        return float(k > 0)
    valid = 1 - invalid
    probs = [valid * p / k] * k + [valid * (1 - p) / (s - k)] * (s - k) + [invalid]
    outcomes = [(c, _multinomial(c, probs)) for c in _compositions(votes, s + 1)]

    def decided(counts):  # P(correct) if decided, else None
        top = max(counts[:s])
        tied = [i for i in range(s) if counts[i] == top]
        return None if len(tied) > 1 else float(tied[0] < k)

    def after_tie(counts):
        top = max(counts[:s])
        tied = [i for i in range(s) if counts[i] == top]
        return sum(i < k for i in tied) / len(tied)

    total = 0.0
    for first, w1 in outcomes:
        result = decided(first)
        if result is not None:
            total += w1 * result
            continue
        for second, w2 in outcomes:
            both = [a + b for a, b in zip(first, second)]
            result = decided(both)
            total += w1 * w2 * (after_tie(both) if result is None else result)
    return total


def _hypergeom(c: int, n: int, s: int, k: int) -> float:
    return math.comb(c, k) * math.comb(n - c, s - k) / math.comb(n, s)


def exact_rtv(n: int, c: int, p: float, group_size: int, votes: int, stop_at: int = 1, invalid: float = 0.0) -> dict[int, float]:
    """Distribution of the number of correct candidates among the final survivors, by dynamic programming
    over rounds: each round is a uniform shuffle cut into the planned group sizes, so the groups' make-up
    is drawn group by group from what is left (hypergeometric)."""
    dist = {c: 1.0}
    while n > stop_at:
        sizes = [len(g) for g in plan_groups(list(range(n)), group_size, stop_at)]
        new: dict[int, float] = {}
        for c_now, weight in dist.items():
            # state: (correct still unassigned, correct winners so far)
            states = {(c_now, 0): weight}
            left = n
            for s in sizes:
                nxt: dict[tuple[int, int], float] = {}
                for (c_left, won), w in states.items():
                    for k in range(max(0, s - (left - c_left)), min(s, c_left) + 1):
                        pk = w * _hypergeom(c_left, left, s, k)
                        q = exact_match_win(k, s, p, invalid, votes) if s > 1 else float(k)
                        for gained, pg in ((1, q), (0, 1 - q)):
                            if pg:
                                key = (c_left - k, won + gained)
                                nxt[key] = nxt.get(key, 0.0) + pk * pg
                states, left = nxt, left - s
            for (_, won), w in states.items():
                new[won] = new.get(won, 0.0) + w
        dist, n = new, sum(1 for _ in sizes)
    return dist


def test_exact_computation_agrees_with_hand_values():
    # One G=2 match, V=1, no invalid votes: the correct one wins with probability p.
    assert exact_rtv(2, 1, 0.7, 2, 1) == pytest.approx({1: 0.7, 0: 0.3})
    # V=2: win 2-0 (p^2) or tie 1-1 (2p(1-p)), re-vote: win 2-0 or tie again then a coin flip.
    p = 0.7
    tie = 2 * p * (1 - p)
    once = p**2 + tie * 0.5  # after the first tie, combined tallies tie again exactly when the re-vote ties
    assert exact_rtv(2, 1, p, 2, 2)[1] == pytest.approx(p**2 + tie * once)
    # Four candidates, one correct, V=1: it must win two matches: p * p.
    assert exact_rtv(4, 1, p, 2, 1)[1] == pytest.approx(p * p)


@pytest.mark.parametrize(
    "n, correct, p, group_size, votes, invalid, stop_at",
    [
        (16, 4, 0.7, 2, 8, 0.0, 1),
        (16, 3, 0.6, 2, 3, 0.0, 1),
        (7, 2, 0.65, 3, 4, 0.1, 1),
        (16, 2, 0.75, 4, 8, 0.0, 1),
        (16, 4, 0.6, 2, 8, 0.2, 4),
    ],
)
def test_simulated_tournaments_match_the_exact_probability(n, correct, p, group_size, votes, invalid, stop_at):
    """Over 3000 seeded tournaments, P(the first survivor is correct) is within 4 standard errors
    (at most 0.037) of the exact value; for stop_at > 1 the same for P(at least one survivor is correct)."""
    exact = exact_rtv(n, correct, p, group_size, votes, stop_at, invalid)
    assert sum(exact.values()) == pytest.approx(1.0)
    target = 1 - exact.get(0, 0.0)
    trials, hits = 3000, 0
    config = RTVConfig(group_size=group_size, votes=votes)
    for t in range(trials):
        rng = random.Random(1000 + t)
        ids = [f"c{i}" for i in range(n)]
        good = set(rng.sample(ids, correct))
        sel = tournament(ids, simulated_judge(good, p, invalid, rng), config, seed=t, stop_at=stop_at)
        hits += any(w in good for w in sel.winners)
    tolerance = 4 * math.sqrt(target * (1 - target) / trials)
    assert abs(hits / trials - target) <= tolerance, (hits / trials, target, tolerance)


def test_an_ordering_without_a_valid_vote_is_asked_again_and_then_decides_normally():
    judge = Scripted(lambda order, call: None if call == 0 and order[0] == "b" else "a")
    sel = tournament(["a", "b"], judge, RTVConfig(votes=4), seed=0)
    (m,) = sel.rounds[0].matches
    assert [len(c) for c in judge.calls] == [4, 2]  # the two b-first votes asked again, nothing else
    assert all(o[0] == "b" for o in judge.calls[1])
    assert m.tally == {"a": 4, "b": 0} and m.tie_break == "" and m.note == "" and sel.winners == ["a"]


def test_a_match_is_never_decided_by_one_ordering_alone():
    judge = Scripted(lambda order, call: None if order[0] == "b" else order[0])  # a-first votes only, all for a
    sel = tournament(["a", "b"], judge, RTVConfig(votes=4, tie_rule="first"), seed=0)
    (m,) = sel.rounds[0].matches
    assert m.tally["a"] == 4 and m.tally["b"] == 0
    assert "got no valid vote" in m.note and m.tie_break == "first" and m.winners == m.candidates[:1]


def test_a_match_without_any_valid_vote_is_a_noted_tie_rule_pick():
    sel = tournament(["a", "b"], Scripted(lambda order, call: None), RTVConfig(votes=2), seed=0)
    (m,) = sel.rounds[0].matches
    assert m.note.startswith("no valid vote in 4") and m.tie_break == "random" and m.winners[0] in ("a", "b")


# ---- consensus: all N rollouts enter, identical matches cost nothing ------------------------------


def noisy_judge(correct: set[str], p: float, seed: int):
    """A scripted judge behind the fake server: each vote names the candidate whose summary says CORRECT with
    probability p (seeded), else the other one."""
    rng = random.Random(seed)
    lock = __import__("threading").Lock()

    def respond(body):
        prompt = body["messages"][-1]["content"]
        shown = re.findall(r"^rollout (r\d+):", prompt, flags=re.MULTILINE)
        good = [i for i, rid in enumerate(shown, 1) if rid in correct]
        bad = [i for i, rid in enumerate(shown, 1) if rid not in correct]
        with lock:
            picks = [rng.choice(good) if good and (not bad or rng.random() < p) else rng.choice(bad)
                     for _ in range(body.get("n", 1))]
        return [f"ANSWER: {pick}" for pick in picks]

    return respond


def consensus_bracket(server, seed: int, duplicates: str):
    """RTV with the LLM judge over 10 identical correct patches and 6 distinct wrong ones; (selection, correct ids)."""
    from codescale.agent.models.base import ModelConfig, RetryConfig
    from codescale.agent.records import Task
    from codescale.scaling.judge import Judge, JudgeConfig
    from codescale.scaling.records import Summary

    ids = [f"r{i:02d}" for i in range(16)]
    correct = set(random.Random(seed).sample(ids, 10))
    patches = {rid: "+    return a + b\n" if rid in correct else f"+    return a - b  # try {rid}\n" for rid in ids}
    summaries = {rid: Summary(task_id="t", rollout_id=rid, understanding=f"rollout {rid}: "
                              + ("CORRECT" if rid in correct else "wrong")) for rid in ids}
    server.responder = noisy_judge(correct, 0.6, seed)
    server.requests.clear()
    judge = Judge(JudgeConfig(), ModelConfig(id="openai/fake", base_url=server.openai_url,
                                             retries=RetryConfig(attempts=1, min_wait=0, max_wait=0)))
    task = Task(instance_id="t", problem_statement="add() subtracts.")
    candidates, _ = prepare(patches, duplicates=duplicates)
    vote = lambda orders: judge.vote(task, summaries, patches, orders)  # noqa: E731
    return tournament(candidates, vote, RTVConfig(duplicates=duplicates), seed=seed, outcomes=patches), correct


def test_consensus_keeps_its_weight_and_identical_matches_cost_no_request(fake_server):
    picked = {"keep": 0, "merge": 0}
    for seed in range(8):
        for duplicates in picked:
            sel, correct = consensus_bracket(fake_server, seed, duplicates)
            picked[duplicates] += sel.winners[0] in correct
            matches = [m for r in sel.rounds for m in r.matches if not m.bye]
            judged = [m for m in matches if not m.identical]
            # one request per ordering shown (n-batched votes), twice more for a re-voted match; none for identical ones
            expected = sum(len({tuple(v.order) for v in m.votes}) * (2 if m.tie_break else 1) for m in judged)
            assert len(fake_server.requests) == expected == sel.usage.requests
            assert all(m.votes == [] and set(m.candidates) <= correct for m in matches if m.identical)
            if duplicates == "keep":
                assert len(sel.candidates) == 16 and sum(m.identical for m in matches) >= 1
                assert len(fake_server.requests) < 2 * 2 * 15  # fewer than every match judged and re-voted
            else:
                assert len(sel.candidates) == 7 and not any(m.identical for m in matches)
    assert picked["keep"] >= 7, picked
    assert picked["merge"] < picked["keep"], picked
