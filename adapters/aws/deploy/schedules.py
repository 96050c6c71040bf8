"""Schedules as EventBridge schedule expressions: ``rate(...)`` for intervals, ``cron(...)`` for
cron lines.

EventBridge's cron differs from Vixie cron (https://docs.aws.amazon.com/eventbridge/latest/
userguide/eb-cron-expressions.html): six fields (minutes, hours, day-of-month, month,
day-of-week, year); day-of-week counts 1 = SUN to 7 = SAT and takes no ``/`` step; one of the
two day fields must be ``?`` (a day is chosen by the other alone); ``a/n`` means from ``a`` every
``n`` to the field's end. So a line is translated from the sets of values the local beat fires on
(:class:`dispatcher.cron.Cron`), never token by token: steps and wrapping weekday ranges become
lists, weekdays are written by name. A line whose day fields would both have to be kept cannot be
written with a ``?`` and is refused in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dispatcher.cron import ALL_DAYS, ALL_WEEKDAYS, Cron

DAY = 86_400
#: EventBridge's day-of-week names, in its order (1 = SUN).
WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class Untranslatable(ValueError):
    """A schedule EventBridge cannot express; the message is one line."""


def rate_expression(every_seconds: int) -> str:
    """``rate(5 minutes)``: whole days, hours or minutes, singular for one."""
    for unit, size in (("day", DAY), ("hour", 3600), ("minute", 60)):
        if every_seconds % size == 0:
            count = every_seconds // size
            return f"rate({count} {unit}{'s' if count != 1 else ''})"
    raise Untranslatable(f"every {every_seconds} s is not a whole number of minutes")


def cron_expression(line: str) -> str:
    """The EventBridge ``cron(...)`` firing at the same minutes as the five-field ``line``."""
    cron = Cron.parse(line)
    day, weekday = _day_fields(line, cron)
    fields = (
        _field(cron.minutes, 0, 59),
        _field(cron.hours, 0, 23),
        day,
        _field(cron.months, 1, 12),
        weekday,
        "*",
    )
    return f"cron({' '.join(fields)})"


def _day_fields(line: str, cron: Cron) -> tuple[str, str]:
    every_day, every_weekday = cron.days == ALL_DAYS, cron.weekdays == ALL_WEEKDAYS
    if every_day and every_weekday:
        return "*", "?"
    if cron.days_both:
        if every_day:
            return "?", _weekdays(cron.weekdays)
        if every_weekday:
            return _field(cron.days, 1, 31), "?"
        kept = "must match both"
    else:
        if every_day or every_weekday:  # either field allowing every day allows every day
            return "*", "?"
        kept = "may match either"
    raise Untranslatable(
        f"{line!r} restricts both the day of month and the day of week (a day {kept}), "
        "which EventBridge cannot express: one of them must be '?'"
    )


def _field(values: frozenset[int], low: int, high: int) -> str:
    """``*``, ``a/n`` for a step running to the end, else ranges and single values."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(ordered[0], high + 1, step)):
            return f"{ordered[0]}/{step}"
    return ",".join(_runs(ordered, str))


def _weekdays(values: frozenset[int]) -> str:
    """Weekdays by EventBridge name, Sunday first: ``MON-FRI``, ``SUN,FRI,SAT``."""
    return ",".join(_runs(sorted(values), lambda day: WEEKDAY_NAMES[day]))


def _runs(ordered: list[int], write: Callable[[int], str]) -> Iterable[str]:
    """Runs of three or more consecutive values as ``a-b``, the rest one by one."""
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        if end - start >= 2:
            yield f"{write(ordered[start])}-{write(ordered[end])}"
        else:
            yield from (write(value) for value in ordered[start : end + 1])
        start = end + 1
