"""Long delays on EventBridge Scheduler: a countdown beyond SQS's 900 s becomes a one-time
schedule that sends the envelope to its queue when it is due, then deletes itself.

SQS holds a message back for at most 900 s (``DelaySeconds``); without a scheduler a longer
countdown travels in hops of 900 s (a three-day one costs 288 receives). Where the generated
infrastructure deploys the scheduler it sets ``DISPATCHER_AWS_SCHEDULER_GROUP`` (the schedule
group of the app's stage) and ``DISPATCHER_AWS_SCHEDULER_ROLE`` (the role the scheduler assumes
to send to the app's queues) on the functions, and names both in its outputs for producers;
``dispatcher emulate aws`` sets them too. With both set, :class:`DelayScheduler` creates the
schedule; without them the producer keeps the hops.

The rules of the request, with their sources (moto checks none of them):

- A one-time schedule's expression is ``at(yyyy-mm-ddThh:mm:ss)`` in
  ``ScheduleExpressionTimezone`` (we send UTC)
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#one-time).
- Schedules fire with 60-second precision: one due at ``1:00`` fires between ``1:00:00`` and
  ``1:00:59`` (same page). The due time is rounded up to a whole minute, so a message never
  arrives before its eta; it may arrive up to two minutes after it.
- ``FlexibleTimeWindow`` is required; ``{"Mode": "OFF"}`` fires at the scheduled time
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-flexible-time-windows.html).
- ``ActionAfterCompletion=DELETE`` deletes a one-time schedule once it has invoked its target
  (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html).
- Names and group names are 1-64 of ``[0-9a-zA-Z-_.]``; a ``ClientToken`` is 1-64 of
  ``[a-zA-Z0-9-_]``; the target's role ARN is an IAM role's (same API reference).
- A target's input is at most 256 KB (the target payload quota,
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html), and an SQS
  templated target sends the input as the message body with no message attributes
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html): a
  claim-checked body, which needs its ``claim_check`` attribute, or a body above that size,
  keeps the hops.
- The role must let ``scheduler.amazonaws.com`` send to the queue, and whoever creates the
  schedule needs ``iam:PassRole`` on it
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html).
- A schedule that cannot deliver goes to the dead-letter queue named in ``DeadLetterConfig``
  after its retries (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html):
  the task queue's own DLQ, so nothing is lost.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from adapters.aws.errors import error_code, translated
from dispatcher.errors import BackendNotConfigured

if TYPE_CHECKING:
    from adapters.aws.clients import Clients

#: The environment variables that name the scheduler (both or neither).
GROUP_ENV = "DISPATCHER_AWS_SCHEDULER_GROUP"
ROLE_ENV = "DISPATCHER_AWS_SCHEDULER_ROLE"
#: The largest target input (bytes).
MAX_INPUT = 256 * 1024
#: Seconds of the scheduler's precision.
PRECISION = 60
#: The time zone our expressions are written in.
TIMEZONE = "UTC"
#: How long the scheduler retries delivering (its maxima), before the dead-letter queue.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185}

NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")
CLIENT_TOKEN = re.compile(r"^[a-zA-Z0-9\-_]{1,64}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")


class SchedulerConfig(NamedTuple):
    """Where long delays are scheduled: the schedule group, and the role the scheduler
    assumes to send to the queues."""

    group: str
    role_arn: str

    @classmethod
    def from_environment(cls) -> SchedulerConfig | None:
        """The scheduler the environment names, or ``None`` when it names none;
        :class:`BackendNotConfigured` (one line) when it names half of one or a bad value."""
        group, role = os.environ.get(GROUP_ENV, ""), os.environ.get(ROLE_ENV, "")
        if not group and not role:
            return None
        if not (group and role):
            missing = ROLE_ENV if group else GROUP_ENV
            raise BackendNotConfigured(
                f"{missing} is not set while {GROUP_ENV if group else ROLE_ENV} is: set both "
                "(the outputs of the generated infrastructure) or neither"
            )
        if not NAME.match(group):
            raise BackendNotConfigured(f"{GROUP_ENV}={group!r} is not a schedule group name")
        if not ROLE_ARN.match(role):
            raise BackendNotConfigured(f"{ROLE_ENV}={role!r} is not an IAM role ARN")
        return cls(group, role)


def fire_time(due: datetime) -> datetime:
    """When to schedule a message due at ``due``: the next whole minute (UTC) at or after it,
    since the scheduler fires anywhere within the minute it is given."""
    due = due.astimezone(UTC)
    whole = due.replace(second=0, microsecond=0)
    return whole if whole == due else whole + timedelta(minutes=1)


def at_expression(when: datetime) -> str:
    """``at(2026-11-30T03:00:00)``: ``when`` in UTC, to the second."""
    return f"at({when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def parse_at(expression: str, timezone: str = TIMEZONE) -> datetime:
    """The moment an ``at(...)`` expression in ``timezone`` names (aware, UTC)."""
    from zoneinfo import ZoneInfo

    match = _AT.match(expression)
    if match is None:
        raise ValueError(f"{expression!r} is not a one-time expression at(yyyy-mm-ddThh:mm:ss)")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    local = datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def schedule_name(message_id: str) -> str:
    """A schedule name for message ``message_id``: the id itself when it is a valid name (our
    ids are UUIDs), else its SHA-256."""
    return message_id if NAME.match(message_id) else hashlib.sha256(message_id.encode()).hexdigest()


def client_token(message_id: str) -> str:
    """An idempotency token for the schedule of ``message_id`` (a retried create is one)."""
    if CLIENT_TOKEN.match(message_id):
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()


def fits(body: str) -> bool:
    """Whether ``body`` can be a schedule's input."""
    return 0 < len(body.encode()) <= MAX_INPUT


def create_schedule_request(
    config: SchedulerConfig,
    *,
    message_id: str,
    body: str,
    due: datetime,
    queue_arn: str,
    dead_letter_arn: str,
) -> dict[str, Any]:
    """The CreateSchedule arguments sending ``body`` to the queue ``queue_arn`` at ``due`` (a
    one-time schedule that deletes itself); :class:`ValueError` when ``body`` cannot be an
    input."""
    if not fits(body):
        raise ValueError(f"a schedule's input holds 1 to {MAX_INPUT} bytes, not {len(body)}")
    return {
        "Name": schedule_name(message_id),
        "GroupName": config.group,
        "ScheduleExpression": at_expression(fire_time(due)),
        "ScheduleExpressionTimezone": TIMEZONE,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
        "ClientToken": client_token(message_id),
        "Description": f"dispatcher: message {message_id}"[:512],
        "Target": {
            "Arn": queue_arn,
            "RoleArn": config.role_arn,
            "Input": body,
            "RetryPolicy": dict(RETRY_POLICY),
            "DeadLetterConfig": {"Arn": dead_letter_arn},
        },
    }


class DelayScheduler:
    """Creates the one-time schedules of long delays with the backend's clients."""

    def __init__(self, clients: Clients, config: SchedulerConfig) -> None:
        self.clients, self.config = clients, config

    def schedule(
        self,
        *,
        message_id: str,
        body: str,
        due: datetime,
        queue_arn: str,
        dead_letter_arn: str,
    ) -> str:
        """Schedule ``body`` for ``due``; the schedule's name. A schedule of that name that
        exists already is this message's, created by an earlier attempt: it stands."""
        request = create_schedule_request(
            self.config,
            message_id=message_id,
            body=body,
            due=due,
            queue_arn=queue_arn,
            dead_letter_arn=dead_letter_arn,
        )
        try:
            with translated(f"scheduling message {message_id} in group {self.config.group!r}"):
                self.clients.get("scheduler").create_schedule(**request)
        except Exception as error:
            if error_code(error.__cause__ or error) != "ConflictException":
                raise
        return str(request["Name"])


def delay_due(delay: float, now: datetime | None = None) -> datetime:
    """When a message sent now with ``delay`` seconds is due (whole seconds, rounded up)."""
    return (now or datetime.now(UTC)) + timedelta(seconds=math.ceil(delay))
