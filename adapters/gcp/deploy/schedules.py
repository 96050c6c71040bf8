"""Schedules as Cloud Scheduler cron lines (unix-cron, five fields, time zone ``Etc/UTC``).

Cloud Scheduler's format (https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules)
is unix-cron: the day-of-month and day-of-week fields are ORed unless one of them is ``*``. The
local beat follows Vixie cron (:mod:`dispatcher.cron`), where a day field *starting* with ``*``
(``*/2``) also makes the two fields ANDed. So a line is written from the sets of values the beat
fires on, never token by token: steps become lists, and a line whose day fields must both match
while both are restricted is refused in one line (Cloud Scheduler would OR them).

A rate (``every 5 minutes``) fires at multiples of its interval since the epoch (the beat's
slots, :meth:`dispatcher.options.Schedule.next_after`); cron lines can say that only for a whole
number of minutes dividing an hour, of hours dividing a day, or one day.
"""

from __future__ import annotations

from collections.abc import Iterable

from dispatcher.cron import ALL_DAYS, ALL_WEEKDAYS, Cron

MINUTE, HOUR, DAY = 60, 3600, 86_400


class Untranslatable(ValueError):
    """A schedule Cloud Scheduler cannot express as the beat runs it; the message is one line."""


def rate_schedule(every_seconds: int) -> str:
    """The cron line firing every ``every_seconds``, at the beat's epoch-aligned slots."""
    if every_seconds < HOUR and every_seconds % MINUTE == 0 and HOUR % every_seconds == 0:
        minutes = every_seconds // MINUTE
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if every_seconds < DAY and every_seconds % HOUR == 0 and DAY % every_seconds == 0:
        hours = every_seconds // HOUR
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if every_seconds == DAY:
        return "0 0 * * *"
    raise Untranslatable(
        f"every {every_seconds} s cannot be a Cloud Scheduler cron line firing at the same "
        "times: use a number of minutes dividing an hour, of hours dividing a day, or one day"
    )


def cron_schedule(line: str) -> str:
    """The unix-cron line firing at the same minutes as the Vixie cron ``line``."""
    cron = Cron.parse(line)
    day, weekday = _day_fields(line, cron)
    fields = (
        _values(cron.minutes, 0, 59),
        _values(cron.hours, 0, 23),
        day,
        _values(cron.months, 1, 12),
        weekday,
    )
    return " ".join(fields)


def _day_fields(line: str, cron: Cron) -> tuple[str, str]:
    """The two day fields: ``*`` where a field does not restrict the days the line fires on."""
    every_day, every_weekday = cron.days == ALL_DAYS, cron.weekdays == ALL_WEEKDAYS
    days, weekdays = _values(cron.days, 1, 31), _values(cron.weekdays, 0, 6)
    if not cron.days_both:  # either field will do, as Cloud Scheduler ORs two restricted ones
        return ("*", "*") if every_day or every_weekday else (days, weekdays)
    if every_day:
        return "*", weekdays
    if every_weekday:
        return days, "*"
    raise Untranslatable(
        f"{line!r} restricts both the day of month and the day of week and a day must match "
        "both (a field starts with '*'), which Cloud Scheduler cannot express: it runs on "
        "days matching either"
    )


def _values(values: frozenset[int], low: int, high: int) -> str:
    """``*`` for every value of the field, else runs ``a-b`` and single values."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    return ",".join(_runs(ordered))


def _runs(ordered: list[int]) -> Iterable[str]:
    """Runs of three or more consecutive values as ``a-b``, the rest one by one."""
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        if end - start >= 2:
            yield f"{ordered[start]}-{ordered[end]}"
        else:
            yield from (str(value) for value in ordered[start : end + 1])
        start = end + 1
