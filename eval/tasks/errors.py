"""The errors for a task that cannot be used as given (they name the task and the field) or a source that cannot be
read."""

from __future__ import annotations


class TaskError(ValueError):
    """A task file or record is unusable; `task` and `field` say where."""

    def __init__(self, task: str, field: str, problem: str):
        self.task, self.field, self.problem = task, field, problem
        super().__init__(f"task {task}: field '{field}': {problem}")


class TaskRefused(TaskError):
    """A task record that would reach outside its run (an id that is a path) or loosen its sandbox: the whole command
    is refused at load, not only that row."""


class TaskSourceError(ValueError):
    """Where tasks come from is unusable: a task file, dataset or selection that cannot be read; the message says why."""
