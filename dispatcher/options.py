"""Task options: what ``@app.task(...)`` records, validated at import time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dispatcher.cron import Cron
from dispatcher.errors import InvalidTaskOption
from dispatcher.retry import Retry

QUEUE_NAME = r"^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$"
TASK_NAME = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$"
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_UNIT_SECONDS |= {"h": 3600, "hour": 3600}

#: Where a key comes from: the name of one of the task's parameters, or a function of the call.
KeySource = str | Callable[..., Any]


class RateLimit(BaseModel):
    """At most ``count`` runs per ``per`` seconds."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=1)
    per: float = Field(gt=0)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``"10/s"``, ``"100/m"``, ``"5/10s"`` or ``"1000/h"``."""
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a rate like '10/s', '100/m' or '1000/h'")
        count, multiple, unit = match.groups()
        return cls(count=int(count), per=int(multiple or 1) * _UNIT_SECONDS[unit])

    def __str__(self) -> str:
        return f"{self.count}/{self.per:g}s"


_EVERY = re.compile(r"^every\s+(\d+)\s*(minute|minutes|hour|hours|day|days)$")


class Schedule(BaseModel):
    """When a periodic task runs: ``every N minutes|hours|days``, or a 5-field cron expression
    (minute hour day-of-month month day-of-week, in UTC)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    expression: str
    every_seconds: int | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse ``"every 5 minutes"`` or ``"0 3 * * *"``."""
        text = " ".join(text.split())
        every = _EVERY.match(text)
        if every:
            count, unit = int(every.group(1)), every.group(2).rstrip("s")
            if count < 1:
                raise ValueError(f"{text!r}: the interval must be at least 1 {unit}")
            seconds = count * {"minute": 60, "hour": 3600, "day": 86_400}[unit]
            return cls(kind="rate", expression=text, every_seconds=seconds)
        if text.startswith("every"):
            raise ValueError(f"{text!r} is not 'every N minutes|hours|days'")
        try:
            Cron.parse(text)
        except ValueError as error:
            raise ValueError(
                f"{text!r} is not 'every N minutes|hours|days' or a cron line ({error})"
            ) from None
        return cls(kind="cron", expression=text)

    def next_after(self, moment: datetime) -> datetime:
        """The first time after ``moment`` that the schedule fires. Intervals are aligned to
        the Unix epoch, so every process agrees on the slots."""
        if self.every_seconds is not None:
            slot = (int(moment.timestamp()) // self.every_seconds + 1) * self.every_seconds
            return datetime.fromtimestamp(slot, UTC)
        return Cron.parse(self.expression).next_after(moment)

    def __str__(self) -> str:
        return self.expression


class TaskOptions(BaseModel):
    """Every setting of one task. Units: seconds and megabytes."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(pattern=TASK_NAME)
    queue: str = Field(default="default", pattern=QUEUE_NAME)
    timeout: float = Field(default=60.0, gt=0, le=86_400)
    memory: int = Field(default=256, ge=64, le=131_072)
    retry: Retry = Retry()
    expires: float | None = Field(default=None, gt=0)
    group_by: KeySource | None = None
    dedup_by: KeySource | None = None
    rate_limit: RateLimit | None = None
    concurrency: int | None = Field(default=None, ge=1, le=10_000)
    schedule: Schedule | None = None

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _parse_rate(cls, value: Any) -> Any:
        return RateLimit.parse(value) if isinstance(value, str) else value

    @field_validator("schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: Any) -> Any:
        return Schedule.parse(value) if isinstance(value, str) else value

    @property
    def ordered(self) -> bool:
        """Whether messages of this task are delivered in order within their group."""
        return self.group_by is not None


def build_options(name: str, parameters: list[str], **values: Any) -> TaskOptions:
    """Validate options; any problem raises :class:`InvalidTaskOption` naming task and option."""
    given = {key: value for key, value in values.items() if value is not None}
    try:
        options = TaskOptions(name=name, **given)
    except ValidationError as error:
        first = error.errors()[0]
        option = str(first["loc"][0]) if first["loc"] else "options"
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidTaskOption(name, option, f"{message} (got {given.get(option)!r})") from None
    for option in ("group_by", "dedup_by"):
        source = getattr(options, option)
        if isinstance(source, str) and source not in parameters:
            raise InvalidTaskOption(
                name, option, f"{source!r} is not a parameter (parameters: {', '.join(parameters)})"
            )
    return options
