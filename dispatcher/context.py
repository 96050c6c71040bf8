"""What is running right now, so that tasks sent from inside a task carry their parentage."""

from __future__ import annotations

from contextvars import ContextVar
from typing import NamedTuple


class TaskContext(NamedTuple):
    """The running invocation: its id, the first id of its chain, its trace and attempt."""

    task: str
    id: str
    root_id: str
    traceparent: str | None
    attempt: int


current_task: ContextVar[TaskContext | None] = ContextVar("current_task", default=None)


def current() -> TaskContext | None:
    """The invocation running in this context, or ``None`` outside a task."""
    return current_task.get()
