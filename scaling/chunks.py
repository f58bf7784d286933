"""The earlier steps of a long rollout that has no condensation of its own (a model whose window never filled),
condensed chunk by chunk by the summarizer's model before the rollout is summarized, so that the summary reads all
of it within the summarizer's window (`scaling.summarizer.overflow: chunk`).

Each chunk is one call with the condensation prompts of configs/agent.yaml (agent/condense.py), folding in the
summary of the chunks before it; the latest steps stay for the summarizer to read as they are.
"""

from __future__ import annotations

from codescale.agent.compact import CHARS_PER_TOKEN
from codescale.agent.condense import CondenseConfig, Condenser
from codescale.agent.models.base import Model
from codescale.agent.records import Task, Trajectory, Usage
from codescale.scaling.compression import Condensed, rendered_steps

PROMPT_TOKENS = 1000
"""Estimated tokens of a condensing prompt besides its steps and the summary it folds in."""


def condense_chunks(task: Task, traj: Trajectory, model: Model, *, room: int, bound: int, max_words: int,
                    max_tokens: int) -> tuple[Condensed | None, Usage, int]:
    """Steps that do not fit in `room` characters: the latest ones filling half of it stay; the ones before are
    condensed in chunks of at most `bound` estimated tokens of prompt. Returns the summary of those earlier steps
    (None when there are none), the calls' usage and how many calls it took."""
    shown = rendered_steps(traj)
    split, used = len(shown), 0
    while split > 0 and used + len(shown[split - 1]) + 2 <= room // 2:
        split -= 1
        used += len(shown[split]) + 2
    if split == 0:
        return None, Usage(), 0
    condenser = Condenser(CondenseConfig(max_words=max_words, max_tokens=max_tokens, max_input_tokens=bound), model)
    chunk_chars = max(1, bound - PROMPT_TOKENS - 2 * max_words) * CHARS_PER_TOKEN  # a summary's words: ~2 tokens each
    summary, usage, calls, chunk, size = "", Usage(), 0, [], 0
    for step, text in zip(traj.steps[:split], shown[:split]):
        if chunk and size + len(text) + 2 > chunk_chars:
            written = condenser.write(task, summary, chunk)
            summary, usage, calls, chunk, size = written.summary, usage + written.usage, calls + 1, [], 0
        chunk.append(step)
        size += len(text) + 2
    written = condenser.write(task, summary, chunk)
    return Condensed(chunk[-1].index, written.summary), usage + written.usage, calls + 1
