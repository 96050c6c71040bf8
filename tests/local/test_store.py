"""The local SQLite queue: leases, delays, dedup, ordering groups, limits and dead letters."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.local.store import LocalBackend
from adapters.local.worker import Worker
from dispatcher import Ack, Cause, Dispatcher, NonRetryable, RetryLater, TaskFailed
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
