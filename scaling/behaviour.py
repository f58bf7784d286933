"""What the evidence says about each candidate, and how selection uses it: a verdict per candidate (tests it
broke, reproductions of other rollouts it passes), the filter, behaviour groups (same pass/fail vector: one
entrant whose group size counts as votes) and the text the judge is shown."""

from __future__ import annotations

from pydantic import BaseModel

from codescale.agent.templates import render
from codescale.scaling.execution import Evidence, SelectionConfig
from codescale.scaling.execution_run import TaskEvidence


class Verdict(BaseModel):
    """One candidate's evidence, read against the base commit's."""

    rollout_id: str
    applied: bool = True
    error: str = ""
    existing: int = 0
    """Existing tests that passed at the base commit (the ones a candidate can break)."""
    broken: list[str] = []
    """Of those, the ones that do not pass with the candidate."""
    reproductions: int = 0
    """Tests and scripts other rollouts wrote that fail at the base commit (they reproduce something)."""
    reproduced: list[str] = []
    """Of those, the ones the candidate passes (`<author>: <test id>`)."""
    own: int = 0
    own_passed: int = 0
    """The candidate's own reproductions (failing at the base) and how many of them it passes."""
    timed_out: bool = False
    vector: tuple[bool, ...] = ()
    """Pass/fail over every test of every check, in one order for all candidates of the task."""


def _ids(evidence: TaskEvidence) -> list[tuple[str, str]]:
    """(check key, test id) over the base and every candidate: the positions of the behaviour vector."""
    found = set()
    for record in [evidence.base, *evidence.candidates.values()]:
        for key, tests in record.results.items():
            found |= {(key, tid) for tid in tests}
    return sorted(found)


def verdict(evidence: TaskEvidence, rollout_id: str, own: set[str]) -> Verdict:
    """The verdict of one candidate; `own` are the rollouts that are this candidate (it and its duplicates)."""
    record: Evidence = evidence.candidates[rollout_id]
    base = evidence.base.results
    v = Verdict(rollout_id=rollout_id, applied=record.applied, error=record.error, timed_out=bool(record.timed_out))
    for check in evidence.checks:
        before, after = base.get(check.key, {}), record.results.get(check.key, {})
        for tid, passed in before.items():
            if check.kind == "existing" and passed:
                v.existing += 1
                if not after.get(tid, False):
                    v.broken.append(tid)
            elif check.kind == "reproduction" and not passed and check.author in own:
                v.own += 1
                v.own_passed += after.get(tid, False)
            elif check.kind == "reproduction" and not passed:
                v.reproductions += 1
                if after.get(tid, False):
                    v.reproduced.append(f"{check.author}: {tid}")
    v.vector = tuple(record.results.get(key, {}).get(tid, False) for key, tid in _ids(evidence))
    return v


def usable(evidence: TaskEvidence) -> bool:
    """Whether the base commit ran (without it, nothing is 'previously passing')."""
    return not evidence.base.error


def drop_reason(v: Verdict) -> str:
    """Why the filter drops this candidate, or '' when it stays."""
    if v.error:
        return ""  # the sandbox failed, not the candidate
    if not v.applied:
        return "evidence: the patch does not apply to the base commit"
    if v.broken:
        return f"evidence: breaks {len(v.broken)} previously passing test(s): {', '.join(v.broken[:3])}"
    if v.reproductions and not v.reproduced:
        return f"evidence: fails all {v.reproductions} reproduction(s) other rollouts wrote"
    return ""


def filter_candidates(verdicts: dict[str, Verdict]) -> dict[str, str]:
    """Rollout id -> why it is dropped; nothing is dropped when no candidate would survive."""
    reasons = {rid: r for rid, v in verdicts.items() if (r := drop_reason(v))}
    return reasons if len(reasons) < len(verdicts) else {}


def groups(verdicts: dict[str, Verdict], order: list[str]) -> dict[str, list[str]]:
    """First member -> the candidates with its behaviour vector (in `order`); a failed sandbox is its own group."""
    found: dict[tuple, list[str]] = {}
    for rid in order:
        v = verdicts[rid]
        key = ("error", rid) if v.error else v.vector
        found.setdefault(key, []).append(rid)
    return {members[0]: members for members in found.values()}


def judge_texts(config: SelectionConfig, verdicts: dict[str, Verdict], sizes: dict[str, int]) -> dict[str, str]:
    """Rollout id -> its evidence as the judge reads it (configs/scaling.yaml, `evidence.judge_template`)."""
    return {rid: render(config.judge_template, v=v, group=sizes.get(rid, 1)) for rid, v in verdicts.items()}


class Applied(BaseModel):
    """What the evidence did to one selection's entrants."""

    candidates: list[str]
    """The entrants left (one per behaviour group)."""
    dropped: dict[str, str] = {}
    """Rollout id -> why the evidence took it out (filtered, or in another's behaviour group)."""
    weights: dict[str, int] = {}
    """Entrant -> its behaviour group's size: standing votes in each of its matches."""
    texts: dict[str, str] = {}
    """Entrant -> its evidence as the judge is shown it (judge and both only)."""
    seconds: float = 0.0


def use_evidence(config: SelectionConfig, gathered: TaskEvidence, candidates: list[str], dropped: dict[str, str]) -> Applied:
    """Filter (filter, both), group by behaviour (every mode but none), and render for the judge (judge, both)."""
    twins = {rid: {other for other in candidates if gathered.candidates[other].digest == gathered.candidates[rid].digest}
             for rid in candidates}  # entrants with the same code (`rtv.duplicates: keep`)
    own = {rid: twins[rid] | {d for d, why in dropped.items() if why == f"duplicate of {rid}"} for rid in candidates}
    verdicts = {rid: verdict(gathered, rid, own[rid]) for rid in candidates}
    applied = Applied(candidates=list(candidates), seconds=gathered.seconds)
    if not usable(gathered):
        return applied
    if config.evidence in ("filter", "both"):
        applied.dropped = filter_candidates(verdicts)
        applied.candidates = [rid for rid in candidates if rid not in applied.dropped]
    found = groups(verdicts, applied.candidates)
    for first, members in found.items():
        applied.dropped.update({rid: f"same behaviour as {first}" for rid in members[1:]})
    applied.candidates = list(found)
    applied.weights = {first: len(members) for first, members in found.items()}
    if config.evidence in ("judge", "both"):
        applied.texts = judge_texts(config, {rid: verdicts[rid] for rid in applied.candidates}, applied.weights)
    return applied
