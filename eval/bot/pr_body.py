"""The record of one `fix-issue` run (result.json) and the pull request it proposes (title, pr_body.md)."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs
from codescale.agent.diff import file_changes
from codescale.agent.records import Usage
from codescale.agent.templates import render
from codescale.eval.bot.issue import Issue
from codescale.eval.bot.patch_check import CheckResult
from codescale.scaling.records import PhaseUsage, Summary


def _prompts() -> dict:
    return configs.load("fix_issue")["fix_issue"]


class FileChange(BaseModel):
    """A file the patch changes, as result.json and the PR body show it."""

    path: str
    added: int = 0
    """Lines added."""
    removed: int = 0
    """Lines removed."""


def changed_files(patch: str) -> list[FileChange]:
    return [FileChange(path=f.path, added=f.added, removed=f.removed) for f in file_changes(patch)]


class FixResult(BaseModel):
    """What `codescale fix-issue` did, written as result.json."""

    status: Literal["patched", "no_patch", "refused", "error", "stopped"]
    """`patched`: patch.diff holds a change to propose; `no_patch`: the run ended without one; `refused`: the patch
    reaches outside the repository or into its CI configuration, so it is neither checked, applied nor proposed;
    `error`: the run failed (a task error, or every attempt ended in a model or sandbox error); `stopped`: the run's
    cost cap (--max-cost) stopped it before it chose a patch."""
    reason: str = ""
    """Why there is no patch to propose, in words (no_patch, refused: what reaches out, error, stopped)."""
    failure: str = ""
    """What a failed run (status error) failed of: `model_error`, `sandbox_error` or `task error`."""
    issue: Issue
    repo: str = ""
    base_commit: str = ""
    """The repository's HEAD the patch is made against."""
    image: str = ""
    model: str = ""
    strategy: str = ""
    attempts: int = 0
    """Rollouts made."""
    chosen_rollout: str | None = None
    exit_status: str = ""
    """How the chosen rollout ended."""
    files: list[FileChange] = []
    check: CheckResult | None = None
    """The test command on the final patch in a fresh sandbox; None without `--test-cmd` or without a patch."""
    usage: PhaseUsage = Field(default_factory=PhaseUsage)
    """Tokens and cost per phase; `summaries` includes the summary written for the PR body."""
    total: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    """`total.cost_usd`: None when a price is unknown."""
    seconds: float = 0.0
    pr_title: str = ""


class PRBodyConfig(BaseModel):
    """How the pull request is worded. Defaults come from configs/fix_issue.yaml."""

    model_config = ConfigDict(extra="forbid")

    title_template: str = Field(default_factory=lambda: _prompts()["title_template"])
    """Jinja2: the pull request's title."""
    body_template: str = Field(default_factory=lambda: _prompts()["body_template"])
    """Jinja2: pr_body.md."""
    methods: dict[str, str] = Field(default_factory=lambda: _prompts()["methods"])
    """Strategy name -> how the patch was chosen, in words (`{n}`: attempts made)."""
    endings: dict[str, str] = Field(default_factory=lambda: _prompts()["endings"])
    """Rollout exit status -> how an attempt ended, in words."""


def no_patch_reason(exit_statuses: dict[str, str], config: PRBodyConfig) -> str:
    """Why no attempt left a change, e.g. "No attempt changed any file (2 ran out of steps, 1 finished ...)."""
    counts: dict[str, int] = {}
    for status in exit_statuses.values():
        words = config.endings.get(status, status or "did not finish")
        counts[words] = counts.get(words, 0) + 1
    detail = ", ".join(f"{n} {words}" if len(exit_statuses) > 1 else words for words, n in counts.items())
    return f"No attempt changed any file ({detail})." if detail else "No attempt was made."


def render_pr(result: FixResult, summary: Summary | None, config: PRBodyConfig) -> tuple[str, str]:
    """The pull request's (title, body)."""
    method = config.methods.get(result.strategy, f"Strategy {result.strategy}").format(n=result.attempts)
    variables = {"result": result, "summary": summary, "method": method}
    title = " ".join(render(config.title_template, **variables).split())
    return title, render(config.body_template, **variables) + "\n"


SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|SECRET|PASSWORD)", re.IGNORECASE)


def secrets() -> list[str]:
    """Values of environment variables named like keys, tokens or secrets (8 characters or longer)."""
    return sorted({v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 8}, key=len, reverse=True)


def redact(text: str, values: list[str]) -> str:
    """`text` with every one of `values` replaced by `[redacted]` (a last guard for what leaves the machine)."""
    for value in values:
        text = text.replace(value, "[redacted]")
    return text
