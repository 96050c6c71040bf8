"""What EventBridge Scheduler does for ``dispatcher emulate aws``: fire the due one-time
schedules of a group.

moto stores schedules (create, get, list, delete) but never fires them. This plays the
scheduler for the templated SQS target our producers create (:mod:`adapters.aws.scheduler`):
for each schedule of the group whose ``at(...)`` time (in its time zone) has come, send its
target input as the message body to the target queue (with the target's message group on a
FIFO queue), then delete the schedule, as ``ActionAfterCompletion=DELETE`` does. A schedule
whose target cannot be sent stays, and is tried again on the next tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapters.aws.errors import translated
from adapters.aws.scheduler import parse_at

if TYPE_CHECKING:
    from adapters.aws.clients import Clients

log = logging.getLogger("dispatcher.aws")


class LocalScheduler:
    """Fires the due one-time schedules of ``group`` on the endpoint of ``clients``."""

    def __init__(
        self,
        clients: Clients,
        group: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_fire: Callable[[str], None] | None = None,
    ) -> None:
        self.clients, self.group, self.clock, self.on_fire = clients, group, clock, on_fire
        self.fired = 0

    def due(self) -> list[dict[str, Any]]:
        """The group's schedules whose time has come (full descriptions)."""
        scheduler = self.clients.get("scheduler")
        now = self.clock()
        found = []
        with translated(f"listing the schedules of group {self.group!r}"):
            listed = scheduler.list_schedules(GroupName=self.group).get("Schedules", [])
            for summary in listed:
                schedule = scheduler.get_schedule(GroupName=self.group, Name=summary["Name"])
                expression = str(schedule.get("ScheduleExpression", ""))
                if not expression.startswith("at("):
                    continue
                zone = schedule.get("ScheduleExpressionTimezone") or "UTC"
                if parse_at(expression, zone) <= now:
                    found.append(schedule)
        return found

    def fire(self, schedule: dict[str, Any]) -> None:
        """Send one schedule's input to its queue, then delete the schedule."""
        target = schedule["Target"]
        queue = str(target["Arn"]).rsplit(":", 1)[-1]
        sqs = self.clients.sqs
        with translated(f"firing schedule {schedule['Name']!r} to {queue!r}"):
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            extra: dict[str, str] = {}
            group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group_id:
                extra["MessageGroupId"] = group_id
            sqs.send_message(QueueUrl=url, MessageBody=target["Input"], **extra)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            with translated(f"deleting fired schedule {schedule['Name']!r}"):
                self.clients.get("scheduler").delete_schedule(
                    GroupName=self.group, Name=schedule["Name"]
                )
        self.fired += 1
        if self.on_fire is not None:
            self.on_fire(str(schedule["Name"]))

    def tick(self) -> int:
        """Fire every due schedule; how many fired."""
        fired = 0
        for schedule in self.due():
            try:
                self.fire(schedule)
                fired += 1
            except Exception as error:  # the schedule stays: next tick tries it again
                log.warning("could not fire schedule %s: %s", schedule.get("Name"), error)
        return fired

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception as error:
                log.warning("the local scheduler could not list schedules: %s", error)
            stop.wait(interval)
