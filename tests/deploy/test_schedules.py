"""Schedules fire when Vixie cron would: the local beat (dispatcher.cron) and the EventBridge
expression the AWS policy writes, both checked against croniter over a whole year.

croniter runs with ``implement_cron_bug=True``: that is Vixie cron's own rule (cronie, ISC and
Debian cron share its code) that a day field starting with ``*`` makes a day match both fields,
which croniter otherwise leaves out. The EventBridge expression is evaluated by
:mod:`tests.deploy.eventbridge`, written from AWS's documented rules.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from croniter import croniter

from adapters.aws.deploy.schedules import Untranslatable, cron_expression, rate_expression
from dispatcher.cron import Cron
from tests.deploy.eventbridge import EventBridgeCron

START = datetime(2028, 1, 1, tzinfo=UTC)  # a leap year, starting on a Saturday
END = datetime(2029, 1, 1, tzinfo=UTC)
REFUSED = None

#: cron line -> the EventBridge expression it becomes (None: EventBridge cannot express it).
TABLE: dict[str, str | None] = {
    "0 3 * * *": "cron(0 3 * * ? *)",
    "*/15 9-17 * * MON-FRI": "cron(0/15 9-17 ? * MON-FRI *)",
    "*/15 * * * 1-5": "cron(0/15 * ? * MON-FRI *)",
    "0 0 * * 5-7": "cron(0 0 ? * SUN,FRI,SAT *)",  # issue 9: it used to become 6-1
    "0 0 * * FRI-SAT": "cron(0 0 ? * FRI,SAT *)",
    "0 0 * * 0,6": "cron(0 0 ? * SUN,SAT *)",
    "0 0 * * 6,0": "cron(0 0 ? * SUN,SAT *)",
    "0 0 * * MON": "cron(0 0 ? * MON *)",
    "0 0 * * */2": "cron(0 0 ? * SUN,TUE,THU,SAT *)",
    "0 0 * * 1-5/2": "cron(0 0 ? * MON,WED,FRI *)",
    "0 0 * * 0-7": "cron(0 0 * * ? *)",
    "5-10/5 * * * 7": "cron(5,10 * ? * SUN *)",
    "0 8-18/2 * * SAT,SUN": "cron(0 8,10,12,14,16,18 ? * SUN,SAT *)",
    "0 0 * 2 MON": "cron(0 0 ? 2 MON *)",
    "30 6 */2 * *": "cron(30 6 1/2 * ? *)",  # issue 9: a day-of-month step
    "0 0 */7 * *": "cron(0 0 1/7 * ? *)",
    "10 5 5/10 * *": "cron(10 5 5/10 * ? *)",
    "0 0 1-7 * *": "cron(0 0 1-7 * ? *)",
    "0 12 1 * *": "cron(0 12 1 * ? *)",
    "0 0 29 2 *": "cron(0 0 29 2 ? *)",
    "0 0 31 * *": "cron(0 0 31 * ? *)",
    "59 23 31 12 *": "cron(59 23 31 12 ? *)",
    "0 0 1 JAN,JUL *": "cron(0 0 1 1,7 ? *)",
    "0 */6 * * *": "cron(0 0/6 * * ? *)",
    "0 12 1-31 * MON": "cron(0 12 * * ? *)",  # both restricted, one allows every day: either
    "0 0 1,15 * FRI": REFUSED,  # both restricted: the 1st, the 15th and every Friday
    "*/30 * 13 * 5": REFUSED,  # every 13th and every Friday, not Friday the 13th
    "0 0 */2 * MON": REFUSED,  # starts with '*': odd days that are Mondays
    "0 0 */2 * */2": REFUSED,
}


def vixie(line: str) -> list[datetime]:
    """When Vixie cron fires ``line`` during the year, by croniter."""
    times = croniter(line, START, implement_cron_bug=True)
    fired: list[datetime] = []
    while (moment := times.get_next(datetime)) < END:
        fired.append(moment)
    return fired


def beat(line: str) -> list[datetime]:
    """When the local beat fires ``line`` during the year (strictly after the start, as
    croniter counts)."""
    cron, fired = Cron.parse(line), []
    moment = cron.next_after(START)
    while moment < END:
        fired.append(moment)
        moment = cron.next_after(moment)
    return fired


@pytest.mark.slow
@pytest.mark.parametrize("line", sorted(TABLE))
def test_the_local_beat_fires_as_vixie_cron(line: str) -> None:
    expected = vixie(line)
    assert expected, f"{line!r} never fires in the year; choose another line"
    assert beat(line) == expected


@pytest.mark.slow
@pytest.mark.parametrize("line", sorted(line for line, want in TABLE.items() if want))
def test_the_eventbridge_expression_fires_as_vixie_cron(line: str) -> None:
    expression = cron_expression(line)
    assert expression == TABLE[line]
    fired = list(EventBridgeCron.parse(expression).between(START, END))
    assert fired == vixie(line)


@pytest.mark.parametrize("line", sorted(line for line, want in TABLE.items() if not want))
def test_what_eventbridge_cannot_express_is_refused_in_one_line(line: str) -> None:
    with pytest.raises(Untranslatable) as caught:
        cron_expression(line)
    message = str(caught.value)
    assert "\n" not in message and repr(line) in message and "one of them must be '?'" in message


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (60, "rate(1 minute)"),
        (5400, "rate(90 minutes)"),
        (7200, "rate(2 hours)"),
        (86_400, "rate(1 day)"),
    ],
)
def test_rate_translation(seconds: int, expected: str) -> None:
    assert rate_expression(seconds) == expected


def test_the_evaluator_follows_the_documented_rules() -> None:
    """The oracle's own rules: one '?', no '/' in the day of week, Sunday is 1."""
    for bad in (
        "cron(0 0 * * * *)",
        "cron(0 0 ? * ? *)",
        "cron(0 0 ? * 1/2 *)",
        "cron(0 0 ? * 6-1 *)",
    ):
        with pytest.raises(ValueError):
            EventBridgeCron.parse(bad)
    sundays = EventBridgeCron.parse("cron(0 0 ? * 1 *)").between(START, END)
    assert {moment.strftime("%a") for moment in sundays} == {"Sun"}
