"""The hot statements of the local queue find their rows through an index, never by reading a
table whole: their cost must not grow with the messages waiting (issue 13's deep queue).

Each hot path (send, send with a dedup key, lease, lease under limits, settle by every outcome,
an ordering group's ack, the idle worker's look at the queue) is run for real on a populated
file while SQLite's trace records every statement it executes; each recorded statement's
``EXPLAIN QUERY PLAN`` must then show no ``SCAN`` of a table.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.local.store import LocalBackend, LocalDelivery
from adapters.local.worker import Worker
from benchmarks._deep_queue import fill
from dispatcher import Ack, Cause, DeadLetter, Dispatcher, RetryLater
from dispatcher.backend import Outcome

TABLES = ("messages", "dedup", "results", "dead_letters", "starts")
ROWS = 20_000


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "deep.sqlite3"
    fill(path, ROWS)
    return path


@pytest.fixture
def app(populated: Path, tmp_path: Path) -> Iterator[Dispatcher]:
    copy = tmp_path / "deep.sqlite3"
    copy.write_bytes(populated.read_bytes())
    app = Dispatcher("shop")
    app.use(LocalBackend(copy, app))

    @app.task(name="plain")
    def plain(n: int) -> int:
        return n

    @app.task(name="once", dedup_by="n")
    def once(n: int) -> int:
        return n

    @app.task(name="ordered", group_by="key", queue="ordered")
    def ordered(key: str) -> None: ...

    @app.task(name="capped", concurrency=2, rate_limit="100/s")
    def capped(n: int) -> int:
        return n

    yield app
    app.close()


def _statements(store: LocalBackend, action: Callable[[], object]) -> list[str]:
    seen: list[str] = []
    store.db.set_trace_callback(seen.append)
    try:
        action()
    finally:
        store.db.set_trace_callback(None)
    skip = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")
    return [sql for sql in dict.fromkeys(seen) if not sql.lstrip().upper().startswith(skip)]


def _scans(store: LocalBackend, sql: str) -> list[str]:
    plan = store.db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    details = [str(row[-1]) for row in plan]
    table_scan = re.compile(rf"^SCAN ({'|'.join(TABLES)})\b")
    return [detail for detail in details if table_scan.match(detail)]


def _check(store: LocalBackend, action: Callable[[], object], expect: int = 1) -> list[str]:
    statements = _statements(store, action)
    assert len(statements) >= expect, statements
    for sql in statements:
        plan = store.db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        assert _scans(store, sql) == [], f"{sql}\n{plan}"
    return statements


def test_sending_reads_no_table_whole(app: Dispatcher) -> None:
    store = app.backend
    assert isinstance(store, LocalBackend)
    _check(store, lambda: app.tasks["plain"].delay(1))
    _check(store, lambda: app.tasks["plain"].map([(n,) for n in range(5)]))
    deduped = _check(store, lambda: app.tasks["once"].delay(7), expect=3)
    assert any("dedup" in sql for sql in deduped)
    _check(store, lambda: app.tasks["ordered"].delay("k"))  # checks for the group's head


def test_leasing_and_settling_read_no_table_whole(app: Dispatcher) -> None:
    store = app.backend
    assert isinstance(store, LocalBackend)
    app.tasks["plain"].map([(n,) for n in range(6)])
    batches: list[list[LocalDelivery]] = []
    _check(store, lambda: batches.append(store.lease(["default"], 3)))
    _check(store, lambda: batches.append(store.lease(["default", "ordered", "elsewhere"], 3)))
    first, second = batches
    assert len(first) == 3 and len(second) == 3
    outcomes: list[Outcome] = [
        Ack(),
        RetryLater(5.0, "again"),
        DeadLetter("no", cause=Cause.NON_RETRYABLE),
    ]
    settled: list[tuple[LocalDelivery, Outcome]] = list(zip(first, outcomes, strict=True))
    _check(store, lambda: store.settle_many(settled), expect=3)
    _check(store, lambda: store.release_many(second))
    _check(store, lambda: store.next_due(["default", "ordered"]))
    _check(store, lambda: store.waiting(["default", "ordered"]), expect=2)  # a burst's end


def test_an_ordering_group_and_the_limits_read_no_table_whole(app: Dispatcher) -> None:
    store = app.backend
    assert isinstance(store, LocalBackend)
    for key in ("a", "a", "b"):
        app.tasks["ordered"].delay(key)
    heads: list[LocalDelivery] = []
    _check(store, lambda: heads.extend(store.lease(["ordered"], 10)))
    assert len(heads) == 2  # one per group
    unparked = _check(store, lambda: store.settle(heads[0], Ack()), expect=2)
    assert any("parked = 0" in sql for sql in unparked)

    app.tasks["capped"].map([(n,) for n in range(4)])
    limits = Worker(app).limits
    leased: list[LocalDelivery] = []
    admitted = _check(store, lambda: leased.extend(store.lease(["default"], 10, limits)), 4)
    assert any("starts" in sql for sql in admitted)
    assert sum(1 for d in leased if d.task == "capped") == 2


def test_the_check_sees_a_scan(app: Dispatcher) -> None:
    """The check can fail: a statement with no usable index is reported."""
    store = app.backend
    assert isinstance(store, LocalBackend)
    assert _scans(store, "SELECT seq FROM messages WHERE body = x'00'") == ["SCAN messages"]
    with pytest.raises(sqlite3.OperationalError):
        _scans(store, "SELECT nothing FROM nowhere")
