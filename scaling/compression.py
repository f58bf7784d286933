"""A trajectory as compact text for the summarizer and the judge, within a token bound (estimated tokens: the
steps' compact text is agent/compact.py's)."""

from __future__ import annotations

import re

from codescale.agent.compact import CHARS_PER_TOKEN, clip, keep_ends, render_step
from codescale.agent.records import Step, Trajectory

TEST_COMMAND = re.compile(r"\b(pytest|py\.test|unittest|tox|nox|runtests|manage\.py test|(go|cargo|npm|yarn|make|mvn|gradle) test)\b")
"""A command that runs tests; the last one's output is kept whole (within its share of the bound)."""


def last_test_step(traj: Trajectory) -> Step | None:
    return next((s for s in reversed(traj.steps) if s.action and TEST_COMMAND.search(s.action)), None)


def compress(traj: Trajectory, *, max_tokens: int, reasoning_chars: int = 1500, output_chars: int = 2000,
             with_diff: bool = True) -> str:
    """The trajectory within about `max_tokens` estimated tokens: exit status, steps (start and end kept
    when cut), the last test command's output and the final diff (without `with_diff`, for tasks whose outcome is
    a container, a line saying there is none)."""
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
    rest = budget - len(header) - len(diff) - len(tests) - 8
    steps = [render_step(s, reasoning_chars=reasoning_chars, output_chars=output_chars) for s in traj.steps]
    return "\n\n".join(part for part in [header, *keep_ends(steps, rest), tests, diff] if part)
