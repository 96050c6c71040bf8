"""Timer schedules as NCRONTAB lines (``second minute hour day month day-of-week``, UTC), the
form Azure Functions' timer trigger takes:
https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-timer#ncrontab-expressions

Only schedules with an exact NCRONTAB form are translated: intervals that divide an hour or a
day (``*/n`` restarts at each hour or day, so other intervals would drift), and cron lines that
do not restrict both the day of the month and the day of the week (Vixie cron fires when either
matches; NCRONTAB's reading of the pair differs). Others raise
:class:`~dispatcher.errors.Unsupported` naming the task, which the deploy policy reports as a
problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.cron import Cron
from dispatcher.errors import Unsupported

if TYPE_CHECKING:
    from dispatcher.options import Schedule

_FIELDS = ("minutes", "hours", "days", "months", "weekdays")
_FULL = {"minutes": 60, "hours": 24, "days": 31, "months": 12, "weekdays": 7}
_UNITS = {
    60: ("0 */{n} * * * *", 60),
    3600: ("0 0 */{n} * * *", 24),
    86_400: ("0 0 0 */{n} * *", 1),
}


def ncrontab(schedule: Schedule, task: str = "") -> str:
    """The NCRONTAB line of a schedule; :class:`~dispatcher.errors.Unsupported` for one it
    cannot express exactly."""
    if schedule.every_seconds is not None:
        for unit, (pattern, limit) in sorted(_UNITS.items(), reverse=True):
            count, rest = divmod(schedule.every_seconds, unit)
            if rest == 0 and count >= 1 and limit % count == 0:
                return pattern.format(n=count).replace("*/1 ", "* ")
        raise Unsupported(
            f"task {task!r}: schedule {schedule.expression!r} has no exact Azure timer "
            "(NCRONTAB): use an interval that divides an hour or a day, or a cron line"
        )
    cron = Cron.parse(schedule.expression)
    fields = [_field(getattr(cron, name), _FULL[name]) for name in _FIELDS]
    if fields[2] != "*" and fields[4] != "*":
        raise Unsupported(
            f"task {task!r}: schedule {schedule.expression!r} restricts both the day of the "
            "month and the day of the week, which cron and NCRONTAB may read differently: "
            "use one of them"
        )
    return "0 " + " ".join(fields)


def _field(values: frozenset[int], full: int) -> str:
    if len(values) >= full:
        return "*"
    ordered, runs = sorted(values), []
    start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        runs.append(str(start) if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ",".join(runs)
