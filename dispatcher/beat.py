"""Send periodic tasks when they fall due (Celery's beat, for backends without a scheduler).

On the clouds the platform's scheduler sends them (the generated infrastructure declares it);
the local worker runs a :class:`Beat`. Every slot is sent with the dedup key
``beat:<task>:<slot>``, so several workers ticking at once send it once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.options import Schedule
    from dispatcher.task import Task, TaskHandle


class Beat:
    """Tracks the next slot of each scheduled task of ``app`` (on ``queues``, if given)."""

    def __init__(
        self,
        app: Dispatcher,
        queues: list[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        now = clock()
        self.scheduled: list[tuple[Task[Any, Any], Schedule]] = [
            (task, task.options.schedule)
            for task in app.tasks.values()
            if task.options.schedule and (queues is None or task.options.queue in queues)
        ]
        self.due = {task.name: schedule.next_after(now) for task, schedule in self.scheduled}

    def tick(self) -> list[TaskHandle[Any]]:
        """Send every task whose slot has come; return their handles."""
        now = self.clock()
        sent = []
        for task, schedule in self.scheduled:
            slot = self.due[task.name]
            if slot <= now:
                sent.append(task.send(dedup_key=f"beat:{task.name}:{slot.isoformat()}"))
                self.due[task.name] = schedule.next_after(now)
        return sent
