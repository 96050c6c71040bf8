"""Five-field cron lines (minute hour day-of-month month day-of-week, UTC), with Vixie cron's
meaning: parse them and find the next time they fire.

Fields take ``*``, numbers, ranges ``a-b``, steps ``*/n``, ``a-b/n`` and ``a/n`` (from ``a`` to
the field's end), lists ``a,b``, and names (``JAN``..``DEC``, ``SUN``..``SAT``; ``7`` is Sunday
too). The two day fields follow Vixie cron (cronie, ISC and Debian cron share its code): when
either field starts with ``*`` (``*`` itself, or a step such as ``*/2``), a day must match both;
when both are restricted, a day matching either one fires (``0 0 1,15 * FRI`` runs on the 1st,
the 15th and every Friday). See crontab(5) and https://crontab.guru/cron-bug.html.

Hand-written on purpose: every import of an app parses its schedules, which happens on each
Lambda cold start, and croniter (the library the tests use as the oracle for these rules) costs
about 18 ms to import with its dateutil dependency, measured with ``python -X importtime``;
this module costs well under one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day-of-week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
)
#: Every day of a month, every day of a week (0 = Sunday).
ALL_DAYS = frozenset(range(1, 32))
ALL_WEEKDAYS = frozenset(range(7))


def _number(text: str, names: dict[str, int], field: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ValueError(f"cron {field}: {text!r} is not a number")
    return int(text)


def _parse_field(
    text: str, field: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"cron {field}: bad step in {part!r}")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, last = span.split("-", 1)
            start, end = _number(first, names, field), _number(last, names, field)
        else:
            start = _number(span, names, field)
            end = high if step else start
        if not (low <= start <= end <= high):
            raise ValueError(f"cron {field}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron line: the values each field allows, and whether each day field starts
    with ``*`` (which decides how the two day fields combine)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_star: bool
    weekday_star: bool

    @classmethod
    def parse(cls, line: str) -> Cron:
        """Parse a five-field line; ``ValueError`` names the field that is wrong."""
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"cron line {line!r} has {len(parts)} fields, not 5")
        fields = [
            _parse_field(part, name, low, high, names)
            for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
        ]
        minutes, hours, days, months, weekdays = fields
        return cls(
            minutes=minutes,
            hours=hours,
            days=days,
            months=months,
            weekdays=frozenset(day % 7 for day in weekdays),
            day_star=parts[2].startswith("*"),
            weekday_star=parts[4].startswith("*"),
        )

    @property
    def days_both(self) -> bool:
        """Whether a day must match both day fields (else either one will do)."""
        return self.day_star or self.weekday_star

    def fires_on(self, day: datetime) -> bool:
        """Whether the line fires at some time of ``day``."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        return (in_month and in_week) if self.days_both else (in_month or in_week)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing time strictly after ``moment`` (UTC, whole minutes)."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 8):  # every pattern that can fire does so within 8 years
            if self.fires_on(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise ValueError("this cron line never fires")
