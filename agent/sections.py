"""The sections of a structured account of a rollout: the trajectory summaries written after it ends (scaling/) and
the condensations written while it runs (agent/condense.py) use the same ones. Their headings, a reply parsed into
them, their length bounded, and the Markdown they are shown as."""

from __future__ import annotations

import re

SUMMARY_SECTIONS = {
    "understanding": "Understanding",
    "hypotheses": "Hypotheses",
    "actions": "Actions",
    "evidence": "Evidence",
    "failure_modes": "Failure modes",
    "final_state": "Final state",
    "lessons": "Lessons",
}
"""Field -> its `## ` heading in a model's reply and in prompts."""

HEADING = re.compile(r"^##\s+(.+?)\s*$")
THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


def parse_sections(text: str) -> dict[str, str]:
    """Fields from `## <heading>` sections (headings matched case-insensitively; unknown ones and text before the
    first heading are ignored). Thinking in `<think>` tags is dropped first."""
    by_heading = {heading.lower(): field for field, heading in SUMMARY_SECTIONS.items()}
    sections: dict[str, list[str]] = {}
    current = None
    for line in THINK.sub("", text).splitlines():
        match = HEADING.match(line)
        if match:
            name = re.sub(r"[^a-z ]", "", match.group(1).lower()).strip()
            current = by_heading.get(name)
            if current:
                sections.setdefault(current, [])
            continue
        if current:
            sections[current].append(line)
    return {field: "\n".join(lines).strip() for field, lines in sections.items()}


def bound_words(fields: dict[str, str], max_words: int) -> dict[str, str]:
    """Trim every field in proportion so that the total is at most about `max_words` words."""
    total = sum(len(v.split()) for v in fields.values())
    if total <= max_words:
        return fields
    scale = max_words / total
    out = {}
    for field, value in fields.items():
        words = value.split()
        keep = max(10, int(len(words) * scale))
        out[field] = value if len(words) <= keep else " ".join(words[:keep]) + " [...]"
    return out


def sections_markdown(fields: dict[str, str]) -> str:
    """The non-empty fields under their `## ` headings, in the sections' order."""
    return "\n\n".join(
        f"## {heading}\n{fields[field].strip()}"
        for field, heading in SUMMARY_SECTIONS.items()
        if fields.get(field, "").strip()
    )
