"""Steps of a rollout as compact text within a bound: for the summarizer and the judge (scaling/compression.py)
and for the condensations of a running rollout (agent/condense.py).

Token counts here are ESTIMATES (characters / 4, about right for English and code with common tokenizers): a bound
only decides how much to cut. Real counts come from the model's usage or the server's tokenizer.
"""

from __future__ import annotations

import math
import re

from codescale.agent.records import Step

CHARS_PER_TOKEN = 4
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
