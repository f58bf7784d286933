"""What became of a task, in the words a run's last line counts it in: resolved or unresolved (where its kind grades it
as it runs), submitted, ended by a limit, or failed by cause.

A task whose every rollout ended in an infrastructure error (the model server or the sandbox failed, not the agent)
had no fair attempt: it is recorded as an error, its command exits non-zero and rerunning the command retries it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from codescale.agent.files import TaskFiles
from codescale.eval.tasks.kinds import TaskKind
from codescale.scaling.records import TaskResult

INFRA = ("model_error", "sandbox_error")
"""Rollout exit statuses that say the model server or the sandbox failed."""
TASK_ERROR = "task error"


def infra_failure(result: TaskResult) -> str:
    """Why the task had no fair attempt, when every rollout ended in an infrastructure error; '' otherwise."""
    statuses = list(result.exit_statuses.values())
    if not statuses or any(status not in INFRA for status in statuses):
        return ""
    counts = ", ".join(f"{n} {status}" for status, n in Counter(statuses).most_common())
    return f"every rollout ended in an infrastructure error ({counts})"


def failed(result: TaskResult) -> bool:
    """Whether the task is failed, not finished: recorded as an error, or (in runs of earlier versions) every rollout
    ended in an infrastructure error."""
    return result.status == "error" or bool(infra_failure(result))


def cause(result: TaskResult) -> str:
    """What a failed task failed of: the most frequent infrastructure error of its rollouts, else a task error."""
    statuses = [s for s in result.exit_statuses.values() if s in INFRA]
    if statuses and len(statuses) == len(result.exit_statuses):
        return Counter(statuses).most_common(1)[0][0]
    return TASK_ERROR


def outcome(result: TaskResult, task: TaskKind | None = None, files: TaskFiles | None = None) -> str:
    """One task's outcome: `failed (<cause>)`, `resolved` / `unresolved` where `task`'s kind graded it as it ran,
    `submitted`, or `ended by <exit status>`."""
    if failed(result):
        return f"failed ({cause(result)})"
    if task is not None and files is not None and result.final_rollout:
        resolved = task.resolved(files, result.final_rollout)
        if resolved is not None:
            return "resolved" if resolved else "unresolved"
    final = result.exit_statuses.get(result.final_rollout or "", "")
    return "submitted" if final == "submitted" else f"ended by {final or 'no rollout'}"


def tally(outcomes: Iterable[str], left: int = 0) -> str:
    """`5 tasks: 1 resolved, 2 submitted, 1 ended by step_limit, 1 failed (1 model_error)`, `left` tasks not run
    counted at the end."""
    found = list(outcomes)
    counts = Counter(o for o in found if not o.startswith("failed"))
    causes = Counter(o.removeprefix("failed (").removesuffix(")") for o in found if o.startswith("failed"))
    order = ["resolved", "unresolved", "submitted"]
    parts = [f"{counts[o]} {o}" for o in order if counts[o]]
    parts += [f"{n} {o}" for o, n in sorted(counts.items()) if o not in order]
    failures = sum(causes.values())
    parts.append(f"{failures} failed" + (f" ({', '.join(f'{n} {c}' for c, n in causes.most_common())})" if failures else ""))
    if left:
        parts.append(f"{left} left for a resume")
    total = len(found) + left
    return f"{total} task{'s' if total != 1 else ''}: " + ", ".join(parts)
