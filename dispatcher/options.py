"""Task options: what ``@app.task(...)`` records, validated at import time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dispatcher import checks
from dispatcher.errors import InvalidField, InvalidTaskOption
from dispatcher.records import Record, setattr_
from dispatcher.retry import DEFAULT_RETRY, Retry

QUEUE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$")
TASK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_UNIT_SECONDS |= {"h": 3600, "hour": 3600}

#: Where a key comes from: the name of one of the task's parameters, or a function of the call.
KeySource = str | Callable[..., Any]


class RateLimit(Record):
    """At most ``count`` runs per ``per`` seconds."""

    FIELDS = ("count", "per")
    __slots__ = FIELDS
    count: int
    per: float

    def __init__(self, count: int, per: float) -> None:
        setattr_(self, "count", checks.integer("count", count, ge=1))
        setattr_(self, "per", checks.number("per", per, gt=0))

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


class Schedule(Record):
    """When a periodic task runs: ``every N minutes|hours|days``, or a 5-field cron expression
    (minute hour day-of-month month day-of-week, in UTC). Made by :meth:`parse`."""

    FIELDS = ("kind", "expression", "every_seconds")
    __slots__ = FIELDS
    kind: str
    expression: str
    every_seconds: int | None

    def __init__(self, kind: str, expression: str, every_seconds: int | None = None) -> None:
        setattr_(self, "kind", kind)
        setattr_(self, "expression", expression)
        setattr_(self, "every_seconds", every_seconds)

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
        from dispatcher.cron import Cron  # only cron schedules need it (a cold start's ~1 ms)

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
        from dispatcher.cron import Cron

        return Cron.parse(self.expression).next_after(moment)

    def __str__(self) -> str:
        return self.expression


class TaskOptions(Record):
    """Every setting of one task, checked when made. Units: seconds and megabytes. A bad value
    raises :class:`~dispatcher.errors.InvalidField` naming the option (``build_options`` turns
    it into :class:`~dispatcher.errors.InvalidTaskOption`)."""

    FIELDS = (
        "name",
        "queue",
        "timeout",
        "memory",
        "retry",
        "expires",
        "group_by",
        "dedup_by",
        "rate_limit",
        "concurrency",
        "schedule",
    )
    __slots__ = FIELDS
    name: str
    queue: str
    timeout: float
    memory: int
    retry: Retry
    expires: float | None
    group_by: KeySource | None
    dedup_by: KeySource | None
    rate_limit: RateLimit | None
    concurrency: int | None
    schedule: Schedule | None

    def __init__(
        self,
        *,
        name: str,
        queue: str = "default",
        timeout: float = 60.0,
        memory: int = 256,
        retry: Retry = DEFAULT_RETRY,
        expires: float | None = None,
        group_by: KeySource | None = None,
        dedup_by: KeySource | None = None,
        rate_limit: RateLimit | str | None = None,
        concurrency: int | None = None,
        schedule: Schedule | str | None = None,
    ) -> None:
        setattr_(self, "name", name)
        setattr_(self, "queue", queue)
        setattr_(self, "timeout", timeout)
        setattr_(self, "memory", memory)
        setattr_(self, "retry", retry)
        setattr_(self, "expires", expires)
        setattr_(self, "group_by", group_by)
        setattr_(self, "dedup_by", dedup_by)
        setattr_(self, "rate_limit", rate_limit)
        setattr_(self, "concurrency", concurrency)
        setattr_(self, "schedule", schedule)
        self._check()

    def _check(self) -> None:
        checks.text("name", self.name, pattern=TASK_NAME)
        checks.text("queue", self.queue, pattern=QUEUE_NAME)
        checked: dict[str, Any] = {
            "timeout": checks.number("timeout", self.timeout, gt=0, le=86_400),
            "memory": checks.integer("memory", self.memory, ge=64, le=131_072),
            "rate_limit": _parsed("rate_limit", self.rate_limit, RateLimit),
            "schedule": _parsed("schedule", self.schedule, Schedule),
        }
        if self.expires is not None:
            checked["expires"] = checks.number("expires", self.expires, gt=0)
        if self.concurrency is not None:
            checks.integer("concurrency", self.concurrency, ge=1, le=10_000)
        if not isinstance(self.retry, Retry):
            raise InvalidField("retry", "Input should be a Retry policy")
        for option in ("group_by", "dedup_by"):
            source = getattr(self, option)
            if source is not None and not (isinstance(source, str) or callable(source)):
                raise InvalidField(option, "Input should be a parameter name or a function")
        for name, value in checked.items():
            setattr_(self, name, value)

    @property
    def ordered(self) -> bool:
        """Whether messages of this task are delivered in order within their group."""
        return self.group_by is not None


_OPTIONS = frozenset(TaskOptions.FIELDS)


def _parsed(option: str, value: Any, kind: type[RateLimit] | type[Schedule]) -> Any:
    if not isinstance(value, str):
        if value is not None and not isinstance(value, kind):
            raise InvalidField(option, f"Input should be a string or a {kind.__name__}")
        return value
    try:
        return kind.parse(value)
    except ValueError as error:
        raise InvalidField(option, str(error)) from None


def build_options(name: str, parameters: list[str], **values: Any) -> TaskOptions:
    """Validate options; a problem raises :class:`InvalidTaskOption` naming task and option
    (:func:`option_problems` lists every one)."""
    problems = option_problems(name, parameters, **values)
    if problems:
        raise problems[0]
    given = {key: value for key, value in values.items() if value is not None}
    return TaskOptions(name=name, **given)


def option_problems(name: str, parameters: list[str], **values: Any) -> list[InvalidTaskOption]:
    """Every bad option of one declaration, in the order given (empty when all are good)."""
    given = {key: value for key, value in values.items() if value is not None}
    problems = [
        InvalidTaskOption(name, key, "Unexpected option") for key in given.keys() - _OPTIONS
    ]
    known = {key: value for key, value in given.items() if key in _OPTIONS}
    try:
        TaskOptions(name=name, **known)
    except InvalidField:
        for key, value in known.items():  # find each bad one
            try:
                TaskOptions(name=name, **{key: value})
            except InvalidField as error:
                problem = f"{error.message} (got {given.get(error.field, name)!r})"
                problems.append(InvalidTaskOption(name, error.field, problem))
        if not problems:  # only the combination is bad, or the name itself
            try:
                TaskOptions(name=name, **known)
            except InvalidField as error:
                problem = f"{error.message} (got {given.get(error.field, name)!r})"
                problems.append(InvalidTaskOption(name, error.field, problem))
    for option in ("group_by", "dedup_by"):
        source = known.get(option)
        if isinstance(source, str) and source not in parameters:
            problems.append(
                InvalidTaskOption(
                    name,
                    option,
                    f"{source!r} is not a parameter (parameters: {', '.join(parameters)})",
                )
            )
    unique = {(p.option, p.problem): p for p in problems}
    return list(unique.values())
