"""A trajectory as compact text for the summarizer, within a token bound.

Token counts here are ESTIMATES (characters / 4, about right for English and code with common
tokenizers): the bound only decides how much to cut. Real counts come from the model's usage.
"""

from __future__ import annotations

import math
import re

from codescale.agent.records import Step, Trajectory

CHARS_PER_TOKEN = 4
TEST_COMMAND = re.compile(r"\b(pytest|py\.test|unittest|tox|nox|runtests|manage\.py test|(go|cargo|npm|yarn|make|mvn|gradle) test)\b")
"""A command that runs tests; the last one's output is kept whole (within its share of the bound)."""
BASH_BLOCK = re.compile(r"```bash.*?(```|$)", re.DOTALL)


def estimate_tokens(text: str) -> int:
    """An estimate, not a count: characters / 4, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def clip(text: str, limit: int) -> str:
    """`text` (stripped) when it fits in `limit` characters (0: no limit), else its start and end around a marker."""
    text = text.strip()
    if limit <= 0 or len(text) <= limit:
        return text
    half = max(0, limit // 2)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[len(text) - half:]}"


def render_step(step: Step, *, reasoning_chars: int, output_chars: int) -> str:
    parts = [f"[step {step.index}]"]
    if step.thinking.strip():
        parts.append("Thinking: " + clip(step.thinking, reasoning_chars))
    reasoning = BASH_BLOCK.sub("", step.response).strip()
    if reasoning:
        parts.append(clip(reasoning, reasoning_chars))
    if step.action is not None:
        parts.append("$ " + clip(step.action, 1000))
        parts.append(("(timed out)\n" if step.timed_out else "") + clip(step.observation, output_chars))
    else:
        parts.append("(no command: format error)\n" + clip(step.observation, output_chars // 4))
    return "\n".join(parts)


def last_test_step(traj: Trajectory) -> Step | None:
    return next((s for s in reversed(traj.steps) if s.action and TEST_COMMAND.search(s.action)), None)


def keep_ends(blocks: list[str], budget: int) -> list[str]:
    """As many blocks as fit in `budget` characters, taken alternately from the start and the end;
    a marker stands for the omitted middle."""
    if sum(len(b) + 2 for b in blocks) <= budget:
        return blocks
    head, tail, used = [], [], 0
    i, j = 0, len(blocks) - 1
    while i <= j:
        take_head = len(head) <= len(tail)
        block = blocks[i] if take_head else blocks[j]
        if used + len(block) + 2 > budget:
            break
        used += len(block) + 2
        if take_head:
            head.append(block)
            i += 1
        else:
            tail.insert(0, block)
            j -= 1
    omitted = len(blocks) - len(head) - len(tail)
    return head + [f"[... {omitted} steps omitted ...]"] + tail


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
