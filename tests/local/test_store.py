"""The local SQLite queue: leases, delays, dedup, ordering groups, limits and dead letters."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.local.doorbell import Doorbell
from adapters.local.results import row as results_row
from adapters.local.store import LocalBackend
from adapters.local.worker import Worker
from dispatcher import Ack, Cause, DeadLetter, Dispatcher, NonRetryable, RetryLater, TaskFailed
from dispatcher.backend import Status, TaskResult
from tests.local.conftest import local


def test_send_receive_ack(app: Dispatcher) -> None:
    @app.task(name="charge", queue="payments")
    def charge(order_id: int) -> None: ...

    handle = charge.delay(42)
    store = local(app)
    [delivery] = store.receive(["payments"], 10)
    assert delivery.receive_count == 1 and delivery.queue == "payments"
    assert store.receive(["payments"], 10) == []  # leased: invisible to others
    store.settle(delivery, Ack())
    assert store.pending() == 0
    assert handle.id in delivery.body.decode()


def test_the_database_is_in_wal_mode(app: Dispatcher) -> None:
    assert local(app).db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_delayed_delivery(app: Dispatcher) -> None:
    @app.task(name="later")
    def later() -> None: ...

    later.send(countdown=0.3)
    store = local(app)
    assert store.receive(["default"], 10) == []
    assert len(store.receive(["default"], 10, wait=2.0)) == 1


def test_retry_later_makes_the_message_visible_again_and_counts_deliveries(app: Dispatcher) -> None:
    @app.task(name="flaky")
    def flaky() -> None: ...

    flaky.delay()
    store = local(app)
    [first] = store.receive(["default"], 1)
    store.settle(first, RetryLater(0.2, "try again"))
    assert store.receive(["default"], 1) == []
    [second] = store.receive(["default"], 1, wait=2.0)
    assert second.receive_count == 2


def test_an_expired_lease_delivers_again_and_the_old_token_is_refused(tmp_path: Path) -> None:
    app = Dispatcher("shop")
    store = LocalBackend(tmp_path / "q.sqlite3", app, lease_grace=0.0)
    app.use(store)

    @app.task(name="short", timeout=0.2)
    def short() -> None: ...

    short.delay()
    [stale] = store.receive(["default"], 1)
    time.sleep(0.3)
    [fresh] = store.receive(["default"], 1)
    assert fresh.receive_count == 2
    store.settle(stale, Ack())  # the first worker wakes up late: its ack must not count
    assert store.pending() == 1
    store.settle(fresh, Ack())
    assert store.pending() == 0


def test_dedup_key_drops_repeats_within_the_window(app: Dispatcher) -> None:
    @app.task(name="charge", dedup_by="order_id")
    def charge(order_id: int) -> None: ...

    first = charge.delay(42)
    second = charge.delay(42)
    other = charge.delay(43)
    assert second.id == first.id
    assert other.id != first.id
    assert local(app).pending() == 2


def test_ordering_groups_deliver_one_at_a_time_in_order(app: Dispatcher) -> None:
    @app.task(name="stock", queue="inventory", group_by="sku")
    def stock(sku: str, delta: int) -> None: ...

    for delta in (1, 2, 3):
        stock.delay("MUG", delta)
    stock.delay("TEE", 9)
    store = local(app)
    batch = store.receive(["inventory"], 10)
    assert sorted(b'"MUG",1' in d.body or b'"TEE",9' in d.body for d in batch) == [True, True]
    assert len(batch) == 2  # the head of each group only
    for delivery in batch:
        store.settle(delivery, Ack())
    [next_mug] = store.receive(["inventory"], 10)
    assert b'"MUG",2' in next_mug.body
    store.settle(next_mug, RetryLater(0, "again"))  # a retried head still blocks its group
    [again] = store.receive(["inventory"], 10)
    assert b'"MUG",2' in again.body


def test_concurrency_limit_caps_leases_across_workers(app: Dispatcher) -> None:
    @app.task(name="heavy", concurrency=2)
    def heavy(n: int) -> None: ...

    heavy.map([(n,) for n in range(5)])
    limits = Worker(app).limits
    store = local(app)
    first = store.receive(["default"], 10, limits=limits)
    assert len(first) == 2
    assert store.receive(["default"], 10, limits=limits) == []
    store.settle(first[0], Ack())
    assert len(store.receive(["default"], 10, limits=limits)) == 1


def test_rate_limit_caps_starts_per_period(app: Dispatcher) -> None:
    @app.task(name="mail", rate_limit="3/s")
    def mail(n: int) -> None: ...

    mail.map([(n,) for n in range(5)])
    limits = Worker(app).limits
    store = local(app)
    assert len(store.receive(["default"], 10, limits=limits)) == 3
    assert store.receive(["default"], 10, limits=limits) == []
    time.sleep(1.05)
    assert len(store.receive(["default"], 10, limits=limits)) == 2


def test_dead_letters_keep_the_reason_and_can_be_replayed(app: Dispatcher) -> None:
    shipping_to = {"GB"}

    @app.task(name="ship")
    def ship(country: str) -> str:
        if country not in shipping_to:
            raise NonRetryable(f"we do not ship to {country!r}")
        return f"parcel to {country}"

    handle = ship.delay("BR")
    store = local(app)
    Worker(app).run(burst=True)
    [letter] = store.dead_letters.entries()
    assert (letter.id, letter.task, letter.attempt) == (handle.id, "ship", 1)
    assert letter.cause is Cause.NON_RETRYABLE
    assert letter.reason == "non-retryable error on attempt 1: NonRetryable: we do not ship to 'BR'"
    assert store.pending() == 0
    with pytest.raises(TaskFailed):
        handle.result(timeout=0)

    shipping_to.add("BR")  # the cause is fixed; replay
    assert [r.id for r in store.dead_letters.replay([letter.id])] == [handle.id]
    assert store.dead_letters.entries() == []
    Worker(app).run(burst=True)
    assert handle.result(timeout=1) == "parcel to BR"


def test_a_missing_directory_is_created(tmp_path: Path) -> None:
    store = LocalBackend(tmp_path / "a" / "b" / "q.sqlite3")
    assert store.pending() == 0


def test_a_throttled_task_at_the_head_does_not_starve_the_rest(app: Dispatcher) -> None:
    """Issue 9, item 10: admission used to look at a fixed window of candidates, which a
    rate-limited task's backlog filled: the messages behind it were never leased."""

    @app.task(name="mail", rate_limit="2/s")
    def mail(n: int) -> None: ...

    @app.task(name="other")
    def other(n: int) -> None: ...

    mail.map([(n,) for n in range(100)])
    other.map([(n,) for n in range(3)])
    limits = Worker(app).limits
    store = local(app)
    leased = store.receive(["default"], 10, limits=limits)
    leased += store.receive(["default"], 10, limits=limits)
    tasks = sorted(b'"task":"mail"' in d.body for d in leased)
    assert tasks.count(True) == 2  # the rate: two starts per second
    assert tasks.count(False) == 3  # and everything else, at once


def test_expired_dedup_keys_are_deleted(app: Dispatcher) -> None:
    """Issue 9, item 10: dedup rows used to stay forever."""

    @app.task(name="charge", dedup_by="order_id")
    def charge(order_id: int) -> None: ...

    store = local(app)
    charge.delay(1)
    with store.transaction() as db:  # its window is over
        db.execute("UPDATE dedup SET expires_at = 0")
    charge.delay(2)
    keys = [row[0] for row in store.db.execute("SELECT key FROM dedup")]
    assert keys == ["default\x002"]


def test_an_idle_worker_sweeps_expired_dedup_keys(tmp_path: Path) -> None:
    app = Dispatcher("shop")
    store = LocalBackend(tmp_path / "q.sqlite3", app, dedup_window=0.0)
    app.use(store)

    @app.task(name="charge", dedup_by="order_id")
    def charge(order_id: int) -> None: ...

    with store.transaction() as db:
        db.executemany(
            "INSERT INTO dedup (key, message_id, expires_at) VALUES (?, ?, 0)",
            [(f"k{n}", f"m{n}") for n in range(500)],
        )
    assert store.sweep() == 500
    assert store.db.execute("SELECT COUNT(*) FROM dedup").fetchone()[0] == 0
    first, second = charge.delay(1), charge.delay(1)  # a window of 0: no repeat suppressed
    assert first.id != second.id


def test_a_group_waits_parked_behind_its_head(app: Dispatcher) -> None:
    @app.task(name="stock", queue="inventory", group_by="sku")
    def stock(sku: str, delta: int) -> None: ...

    handles = [stock.delay("MUG", delta) for delta in range(5)]
    store = local(app)
    parked = store.db.execute("SELECT COUNT(*) FROM messages WHERE parked = 1").fetchone()[0]
    assert parked == 4  # only the head can be leased: the tail costs a lease nothing
    [head] = store.receive(["inventory"], 10)
    store.settle(head, DeadLetter("no", cause=Cause.NON_RETRYABLE))  # dead-lettered: next!
    [second] = store.receive(["inventory"], 10)
    assert b'"MUG",1' in second.body
    store.release(second)
    store.revoke(handles[1].id, "stock")  # the head revoked: the next one is unparked
    [third] = store.receive(["inventory"], 10)
    assert b'"MUG",2' in third.body
    store.settle(third, Ack())
    assert store.purge("inventory") == 2  # the rest, parked or not
    stock.delay("MUG", 9)  # an empty group again: the new message heads it
    assert len(store.receive(["inventory"], 10)) == 1
    [stat] = store.queue_stats(["inventory"])
    assert (stat.depth, stat.in_flight, stat.delayed) == (0, 1, 0)


def test_waiting_counts_every_message_up_to_a_cap(app: Dispatcher) -> None:
    @app.task(name="stock", queue="inventory", group_by="sku")
    def stock(sku: str, delta: int) -> None: ...

    @app.task(name="later")
    def later() -> None: ...

    for delta in range(4):
        stock.delay("MUG", delta)  # a head and three parked behind it
    later.send(countdown=3600)
    store = local(app)
    store.receive(["default"], 1)  # leased: still waiting
    later.delay()
    assert store.waiting(["inventory", "default"]) == store.pending() == 6
    assert store.waiting(["inventory", "default"], cap=5) == 5


def test_a_file_with_groups_from_an_older_release_parks_their_tails(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,"
            " queue TEXT NOT NULL, task TEXT NOT NULL, body BLOB NOT NULL, group_key TEXT,"
            " timeout REAL NOT NULL, visible_at REAL NOT NULL, deliveries INTEGER NOT NULL"
            " DEFAULT 0, token TEXT, enqueued_at REAL NOT NULL)"
        )
        db.executemany(
            "INSERT INTO messages (id, queue, task, body, group_key, timeout, visible_at,"
            " enqueued_at) VALUES (?, 'q', 't', x'7b7d', ?, 60, 0, 0)",
            [("a1", "a"), ("b1", "b"), ("a2", "a"), ("n1", None), ("a3", "a")],
        )
    store = LocalBackend(path)
    leased = store.receive(["q"], 10)
    assert sorted(d.message_id for d in leased) == ["a1", "b1", "n1"]
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_retry_that_did_not_run_the_task_is_not_counted(app: Dispatcher) -> None:
    @app.task(name="later")
    def later() -> None: ...

    later.delay()
    store = local(app)
    [first] = store.receive(["default"], 1)
    store.settle(first, RetryLater(0.0, "not due yet", Cause.NOT_DUE))
    [again] = store.receive(["default"], 1)
    assert again.receive_count == 1


def test_a_send_wakes_a_waiting_receiver(app: Dispatcher) -> None:
    @app.task(name="ping")
    def ping() -> None: ...

    store = local(app)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(len(store.receive(["default"], 1, 30))))
    waiter.start()
    time.sleep(0.2)  # it is waiting on the doorbell by now (or about to: the ring waits)
    ping.delay()
    waiter.join(timeout=10)
    assert got == [1] and not waiter.is_alive()


def test_the_doorbell_rings_a_waiter_and_nobody(tmp_path: Path) -> None:
    database = tmp_path / "q.sqlite3"
    Doorbell(database).ring()  # nobody waits: nothing happens, nothing blocks
    bell = Doorbell(database)
    assert bell.wait(0.01) is False
    ringer = Doorbell(database)
    for _ in range(100_000):  # far more rings than the pipe holds: the extra ones are dropped
        ringer.ring()
    assert bell.wait(5) is True
    assert bell.wait(0.01) is False  # every ring was taken at once
    bell.close()
    ringer.close()


def test_a_message_written_by_another_program_is_found_without_a_ring(app: Dispatcher) -> None:
    store = local(app)
    started = time.monotonic()
    threading.Timer(0.1, lambda: _insert_raw(store.path)).start()
    [delivery] = store.receive(["default"], 1, wait=30)
    assert delivery.body == b"{}" and time.monotonic() - started < 25


def _insert_raw(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO messages (id, queue, task, body, timeout, visible_at, enqueued_at)"
            " VALUES ('raw', 'default', '?', x'7b7d', 60, 0, 0)"
        )


@pytest.mark.parametrize(
    "value",
    [5, 2**70, "a\udc80", 1.5, [1, {"x": None}], "é", {"when": "2026-01-01"}],
)
def test_a_result_is_stored_as_task_result_writes_it(value: object) -> None:
    """The local store writes records with orjson (the standard library for what orjson
    refuses); what it writes is what ``TaskResult.to_json`` writes, read back the same."""
    for when in (datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC)):
        result = TaskResult(
            id="m1", task="t", status=Status.SUCCEEDED, value=value, attempt=3, updated_at=when
        )
        _id, status, record = results_row(result)
        assert (status, record) == ("succeeded", result.to_json())
        assert TaskResult.from_json(record) == result
