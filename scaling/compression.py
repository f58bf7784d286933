"""A trajectory as compact text for the summarizer and the judge, within a token bound (estimated tokens: the
steps' compact text is agent/compact.py's).

Steps that do not all fit are taken from their start and end around a marker, unless a summary of the earlier ones
is at hand (`Condensed`): the rollout's latest condensation (what the model itself saw in their place), or one the
summarizer wrote chunk by chunk (scaling/chunks.py); then that summary stands for them and the later steps follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codescale.agent.compact import CHARS_PER_TOKEN, clip, estimate_tokens, keep_ends, render_step
from codescale.agent.records import Step, Trajectory

TEST_COMMAND = re.compile(r"\b(pytest|py\.test|unittest|tox|nox|runtests|manage\.py test|(go|cargo|npm|yarn|make|mvn|gradle) test)\b")
"""A command that runs tests; the last one's output is kept whole (within its share of the bound)."""
REASONING_CHARS, OUTPUT_CHARS = 1500, 2000
"""Characters of a step's reasoning and of its output shown by default."""


@dataclass(frozen=True)
class Condensed:
    """Steps 0 to `last_step` as one summary in Markdown."""

    last_step: int
    summary: str


def last_test_step(traj: Trajectory) -> Step | None:
    return next((s for s in reversed(traj.steps) if s.action and TEST_COMMAND.search(s.action)), None)


def trajectory_tokens(traj: Trajectory) -> int:
    """Estimated tokens of everything its steps hold in full: replies, thinking, observations."""
    return sum(estimate_tokens(s.response) + estimate_tokens(s.thinking) + estimate_tokens(s.observation)
               for s in traj.steps)


def latest_condensation(traj: Trajectory) -> Condensed | None:
    c = traj.condensations[-1] if traj.condensations else None
    return Condensed(c.last_step, c.summary) if c else None


def rendered_steps(traj: Trajectory, reasoning_chars: int = REASONING_CHARS, output_chars: int = OUTPUT_CHARS) -> list[str]:
    return [render_step(s, reasoning_chars=reasoning_chars, output_chars=output_chars) for s in traj.steps]


def frame(traj: Trajectory, max_tokens: int, with_diff: bool) -> tuple[str, str, str, int]:
    """The parts around the steps (header, last test run, outcome) and the characters left for the steps."""
    budget = max_tokens * CHARS_PER_TOKEN
    header = f"Exit status: {traj.exit_status or 'unfinished'}. Steps: {len(traj.steps)}."
    if traj.error:
        header += f"\nError: {clip(traj.error, 500)}"
    if not with_diff:
        diff = "Outcome: the container's final state (no repository diff; the task's tests check the container)."
    else:
        diff = "Final diff:\n" + (clip(traj.patch, int(budget * 0.3)) if traj.patch.strip() else "(empty: no change)")
    test = last_test_step(traj)
    tests = ""
    if test:
        tests = f"Last test run (step {test.index}): $ {clip(test.action or '', 300)}\n{clip(test.observation, int(budget * 0.15))}"
    return header, tests, diff, budget - len(header) - len(diff) - len(tests) - 8


def fits(blocks: list[str], room: int) -> bool:
    return sum(len(b) + 2 for b in blocks) <= room


def compress(traj: Trajectory, *, max_tokens: int, reasoning_chars: int = REASONING_CHARS,
             output_chars: int = OUTPUT_CHARS, with_diff: bool = True, condensed: Condensed | None = None) -> str:
    """The trajectory within about `max_tokens` estimated tokens: exit status, steps, the last test command's output
    and the final diff (without `with_diff`, for tasks whose outcome is a container, a line saying there is none).
    Steps that do not all fit: `condensed` (else the rollout's latest condensation) in place of the earlier ones, and
    the start and end of what remains around a marker."""
    header, tests, diff, room = frame(traj, max_tokens, with_diff)
    steps = rendered_steps(traj, reasoning_chars, output_chars)
    condensed = condensed or latest_condensation(traj)
    if not fits(steps, room) and condensed is not None:
        held = f"[steps 0 to {condensed.last_step}, condensed]\n{condensed.summary}"
        later = [text for s, text in zip(traj.steps, steps) if s.index > condensed.last_step]
        steps = [held, *keep_ends(later, room - len(held) - 2)] if later else [held]
    else:
        steps = keep_ends(steps, room)
    return "\n\n".join(part for part in [header, *steps, tests, diff] if part)
