"""A selection as the viewer draws it: per match, the votes counted by the order the candidates were shown in, the
standing votes execution evidence added, how a tie was broken and who went on."""

from __future__ import annotations

from codescale.scaling.records import Match, Selection


def ordering_counts(match: Match) -> list[dict]:
    """Per order shown (first seen first): how many votes it got, the valid ones per candidate, the invalid ones."""
    shown: dict[tuple[str, ...], dict] = {}
    for vote in match.votes:
        row = shown.setdefault(tuple(vote.order), {"order": list(vote.order), "votes": 0, "invalid": 0,
                                                    "choices": {rid: 0 for rid in match.candidates}})
        row["votes"] += 1
        if vote.choice is None:
            row["invalid"] += 1
        else:
            row["choices"][vote.choice] += 1
    return list(shown.values())


def match_view(match: Match) -> dict:
    counted = {rid: sum(v.choice == rid for v in match.votes) for rid in match.candidates}
    return {
        "candidates": match.candidates, "winners": match.winners, "bye": match.bye,
        "tally": match.tally, "standing": {rid: match.tally.get(rid, 0) - n for rid, n in counted.items()
                                           if match.tally.get(rid, 0) - n},
        "orderings": ordering_counts(match), "tie_break": match.tie_break, "note": match.note,
        "judged": bool(match.votes), "identical": match.identical,
        "votes": [{"order": v.order, "choice": v.choice, "response": v.response, "failed": v.failed,
                   "empty": v.empty} for v in match.votes],
    }


def selection_view(selection: Selection) -> dict:
    """A Selection with its matches counted for drawing (round by round)."""
    return {
        "stage": selection.stage, "method": selection.method, "seed": selection.seed, "stop_at": selection.stop_at,
        "candidates": selection.candidates, "dropped": selection.dropped, "winners": selection.winners,
        "tokens": selection.usage.tokens, "cost_usd": selection.usage.cost_usd,
        "rounds": [{"index": r.index, "matches": [match_view(m) for m in r.matches]} for r in selection.rounds],
    }
