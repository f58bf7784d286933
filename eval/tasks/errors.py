"""The error for a task that cannot be used as given: it names the task and the field."""

from __future__ import annotations


class TaskError(ValueError):
    """A task file or record is unusable; `task` and `field` say where."""

    def __init__(self, task: str, field: str, problem: str):
        self.task, self.field, self.problem = task, field, problem
        super().__init__(f"task {task}: field '{field}': {problem}")


class TaskSourceError(ValueError):
    """Where tasks come from is unusable: a task file, dataset or selection that cannot be read; the message says why."""
