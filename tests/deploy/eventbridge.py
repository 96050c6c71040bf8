"""A small evaluator of EventBridge cron expressions, for tests to compute when a translated
schedule fires, written from AWS's documented rules, not from our translation:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html

- six fields: minutes (0-59), hours (0-23), day-of-month (1-31), month (1-12 or JAN-DEC),
  day-of-week (1-7 or SUN-SAT, 1 = Sunday), year (1970-2199);
- ``,`` lists, ``-`` ranges, ``*`` every value, ``/`` increments (``1/10``: from 1, every 10th),
  which the day-of-week field does not take;
- ``?`` (any) only in the two day fields, and exactly one of them: "You can't specify the
  Day-of-month and Day-of-week fields in the same cron expression. If you specify a value or a *
  in one of the fields, you must use a ? in the other";
- ``L``, ``W`` and ``#`` exist, but our translation never writes them, so this evaluator
  refuses them, and refuses ranges that run backwards (the documentation defines none).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
WEEKDAYS = {
    name: number
    for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)
}
#: name, low, high, names, whether ``/`` is allowed, whether ``?`` is allowed
FIELDS: tuple[tuple[str, int, int, dict[str, int], bool, bool], ...] = (
    ("minutes", 0, 59, {}, True, False),
    ("hours", 0, 23, {}, True, False),
    ("day-of-month", 1, 31, {}, True, True),
    ("month", 1, 12, MONTHS, True, False),
    ("day-of-week", 1, 7, WEEKDAYS, False, True),
    ("year", 1970, 2199, {}, True, False),
)


def _value(text: str, names: dict[str, int], low: int, high: int) -> int:
    number = names[text] if text in names else int(text)  # ValueError for L, W, # and the rest
    if not low <= number <= high:
        raise ValueError(f"{text} is outside {low}-{high}")
    return number


def _field(text: str, spec: tuple[str, int, int, dict[str, int], bool, bool]) -> set[int] | None:
    name, low, high, names, slash, question = spec
    if text == "?":
        if not question:
            raise ValueError(f"{name}: '?' is only for the day fields")
        return None
    values: set[int] = set()
    for part in text.split(","):
        span, sep, step_text = part.partition("/")
        if sep and not slash:
            raise ValueError(f"{name}: '/' is not allowed")
        step = int(step_text) if sep else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, last = span.split("-", 1)
            start, end = _value(first, names, low, high), _value(last, names, low, high)
            if start > end:
                raise ValueError(f"{name}: {part!r} runs backwards")
        else:
            start = _value(span, names, low, high)
            end = high if sep else start
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class EventBridgeCron:
    """A parsed ``cron(...)`` expression."""

    minutes: set[int]
    hours: set[int]
    days: set[int] | None
    months: set[int]
    weekdays: set[int] | None
    years: set[int]

    @classmethod
    def parse(cls, expression: str) -> EventBridgeCron:
        if not (expression.startswith("cron(") and expression.endswith(")")):
            raise ValueError(f"{expression!r} is not cron(...)")
        parts = expression[5:-1].split(" ")
        if len(parts) != 6:
            raise ValueError(f"{expression!r} does not have six fields")
        minutes, hours, days, months, weekdays, years = (
            _field(part, spec) for part, spec in zip(parts, FIELDS, strict=True)
        )
        if (days is None) == (weekdays is None):
            raise ValueError(f"{expression!r}: exactly one day field must be '?'")
        assert minutes is not None and hours is not None and months is not None
        assert years is not None
        return cls(minutes, hours, days, months, weekdays, years)

    def fires_on(self, day: datetime) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days is not None:
            return day.day in self.days
        assert self.weekdays is not None
        return day.isoweekday() % 7 + 1 in self.weekdays

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every firing time after ``start`` and before ``end``, in order."""
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            if self.fires_on(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = day.replace(hour=hour, minute=minute)
                        if start < moment < end:
                            yield moment
            day += timedelta(days=1)
