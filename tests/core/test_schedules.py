"""Periodic tasks: cron lines, interval slots, and the beat that sends them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.local.store import LocalBackend
from dispatcher import Dispatcher
from dispatcher.beat import Beat
from dispatcher.cron import Cron
from dispatcher.options import Schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "after", "expected"),
    [
        ("0 3 * * *", "2026-11-25 17:00", "2026-11-26 03:00"),
        ("0 3 * * *", "2026-11-26 02:59", "2026-11-26 03:00"),
        ("0 3 * * *", "2026-11-26 03:00", "2026-11-27 03:00"),  # strictly after
        ("*/15 9-17 * * MON-FRI", "2026-11-28 12:00", "2026-11-30 09:00"),  # Saturday
        ("*/15 9-17 * * 1-5", "2026-11-30 17:50", "2026-12-01 09:00"),
        ("0 0 29 2 *", "2026-11-28 12:00", "2028-02-29 00:00"),
        ("0 0 1,15 * FRI", "2026-11-28 12:00", "2026-12-01 00:00"),  # either day rule
        ("30 6 * JAN 0", "2026-11-28 12:00", "2027-01-03 06:30"),  # first Sunday in January
        ("5-10/5 * * * 7", "2026-11-29 10:07", "2026-11-29 10:10"),  # 7 is Sunday
        ("0 0 */2 * MON", "2028-01-03 12:00", "2028-01-17 00:00"),  # '*/2' makes it both
        ("0 0 * * 5-7", "2026-11-28 12:00", "2026-11-29 00:00"),  # Friday to Sunday
    ],
)
def test_cron_next_after(line: str, after: str, expected: str) -> None:
    assert Cron.parse(line).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("61 * * * *", "cron minute: '61' is outside 0-59"),
        ("* 24 * * *", "cron hour: '24' is outside 0-23"),
        ("* * 0 * *", "cron day-of-month: '0' is outside 1-31"),
        ("* * * FOO *", "cron month: 'FOO' is not a number"),
        ("*/0 * * * *", "cron minute: bad step in '*/0'"),
        ("* * *", "has 3 fields, not 5"),
    ],
)
def test_bad_cron_lines_name_the_field(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        Cron.parse(line)


def test_cron_that_never_fires_is_reported() -> None:
    with pytest.raises(ValueError, match="never fires"):
        Cron.parse("0 0 31 2 *").next_after(at("2026-01-01 00:00"))


def test_interval_slots_are_aligned_so_every_process_agrees() -> None:
    schedule = Schedule.parse("every 15 minutes")
    assert schedule.next_after(at("2026-11-25 17:07")) == at("2026-11-25 17:15")
    assert schedule.next_after(at("2026-11-25 17:15")) == at("2026-11-25 17:30")


def test_beat_sends_each_slot_once_across_workers(tmp_path: Path) -> None:
    app = Dispatcher("shop")
    store = LocalBackend(tmp_path / "beat.sqlite3", app)
    app.use(store)

    @app.task(name="report", schedule="every 5 minutes")
    def report() -> None: ...

    @app.task(name="plain")
    def plain() -> None: ...

    now = [at("2026-11-25 17:01")]
    beats = [Beat(app, clock=lambda: now[0]) for _ in range(2)]  # two worker processes
    assert [b.tick() for b in beats] == [[], []]
    now[0] = at("2026-11-25 17:05")
    first, second = (b.tick() for b in beats)
    assert len(first) == len(second) == 1
    assert first[0].id == second[0].id  # the second send was a duplicate of the first
    assert store.pending() == 1
    now[0] += timedelta(minutes=1)
    assert [b.tick() for b in beats] == [[], []]
    now[0] = at("2026-11-25 17:10")
    beats[0].tick()
    assert store.pending() == 2
