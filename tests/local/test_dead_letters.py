"""The local backend's operations: dead letters by id, queue counts, revoke and purge."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.local.store import LocalBackend
from adapters.local.worker import Worker
from dispatcher import (
    Cause,
    Dispatcher,
    NonRetryable,
    SyncTask,
    TaskRevoked,
    UnknownDeadLetter,
)
from tests.local.conftest import local


def _refusing(app: Dispatcher) -> SyncTask[[str], str]:
    @app.task(name="ship", queue="shipping")
    def ship(country: str) -> str:
        raise NonRetryable(f"we do not ship to {country!r}")

    return ship


def test_entries_show_and_unknown_ids(app: Dispatcher) -> None:
    ship = _refusing(app)
    handle = ship.delay("BR")
    Worker(app).run(burst=True)
    letters = local(app).dead_letters
    [entry] = letters.entries()
    assert letters.show(handle.id) == entry
    assert (entry.id, entry.task, entry.queue, entry.attempt) == (handle.id, "ship", "shipping", 1)
    assert entry.cause is Cause.NON_RETRYABLE and entry.died_at is not None
    assert letters.entries(["default"]) == []
    with pytest.raises(UnknownDeadLetter, match="'nope'"):
        letters.show("nope")
    with pytest.raises(UnknownDeadLetter):
        letters.replay([handle.id, "nope"])
    assert letters.entries() == [entry]  # nothing was replayed


def test_an_interrupted_replay_loses_nothing(app: Dispatcher, tmp_path: Path) -> None:
    ship = _refusing(app)
    handles = [ship.delay(c) for c in ("AA", "BB", "CC")]
    Worker(app).run(burst=True)
    # The second insert fails, as a full disk or a killed process would end the replay.
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:
        db.execute(
            "CREATE TRIGGER interrupt BEFORE INSERT ON messages WHEN NEW.id = ?"
            " BEGIN SELECT RAISE(ABORT, 'interrupted'); END".replace("?", repr(handles[1].id))
        )
    store = local(app)
    with pytest.raises(sqlite3.Error, match="interrupted"):
        store.dead_letters.replay(None)
    assert {e.id for e in store.dead_letters.entries()} == {h.id for h in handles}
    assert store.pending() == 0


def test_replay_and_purge_by_id(app: Dispatcher) -> None:
    ship = _refusing(app)
    first, second = ship.delay("AA"), ship.delay("BB")
    Worker(app).run(burst=True)
    store = local(app)
    assert [e.id for e in store.dead_letters.replay([first.id])] == [first.id]
    assert store.results.get(first.id) is None and store.pending(["shipping"]) == 1
    assert store.dead_letters.purge([second.id]) == 1
    assert store.dead_letters.entries() == []


def test_queue_counts(app: Dispatcher) -> None:
    ship = _refusing(app)
    ship.delay("AA")
    Worker(app).run(burst=True)
    ship.delay("BB")
    ship.send(args=("CC",), countdown=60)
    store = local(app)
    store.receive(["shipping"], 1)  # one leased: in flight
    [stat] = store.queue_stats(["shipping"])
    assert (stat.depth, stat.in_flight, stat.delayed, stat.dead_letters) == (0, 1, 1, 1)


def test_a_revoked_message_never_runs(app: Dispatcher) -> None:
    ran: list[int] = []

    @app.task(name="work")
    def work(n: int) -> None:
        ran.append(n)

    handle = work.delay(1)
    store = local(app)
    store.revoke(handle.id, "work")
    assert store.pending() == 0
    Worker(app).run(burst=True)
    assert ran == []
    with pytest.raises(TaskRevoked):
        handle.result(timeout=0)


def test_purge_empties_one_queue(app: Dispatcher) -> None:
    @app.task(name="a", queue="one")
    def a() -> None: ...

    @app.task(name="b", queue="two")
    def b() -> None: ...

    a.delay(), a.delay(), b.delay()
    store = local(app)
    assert store.purge("one") == 2
    assert store.pending(["one"]) == 0 and store.pending(["two"]) == 1


def test_a_file_from_an_older_release_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE dead_letters (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,"
            " queue TEXT NOT NULL, task TEXT NOT NULL, body BLOB NOT NULL, reason TEXT NOT NULL,"
            " deliveries INTEGER NOT NULL, failed_at REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO dead_letters (id, queue, task, body, reason, deliveries, failed_at)"
            " VALUES ('m1', 'default', 't', x'7b7d', 'old reason', 4, 0)"
        )
    [entry] = LocalBackend(path).dead_letters.entries()
    assert (entry.id, entry.reason, entry.attempt, entry.cause) == ("m1", "old reason", 4, None)
