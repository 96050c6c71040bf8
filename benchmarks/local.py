"""The local backend against Huey's SQLite backend, and the envelope against plain ``json``.

``local_vs_huey``
    N trivial tasks (``noop(i) -> i``, result stored) are enqueued first; then the clock runs
    from the moment the consumer is started until the parent sees all N results in the
    database. Each side gets a fresh SQLite file in a temporary directory and is run
    ``ROUNDS`` times, interleaved; the best round of each side is kept.

    Fairness:

    * Same concurrency and worker type: 2 worker *processes* on both sides (ours: ``run_pool``,
      started from a forked single-threaded process as the CLI would run it, so it forks its
      workers; Huey: its real ``Consumer`` with ``worker_type="process"``, which forks).
      Processes rather than threads, because Huey's thread workers share one SQLite connection
      behind one lock, which would handicap it. Process start-up is inside the timed span on
      both sides, as a user would see it.
    * Same durability: both in WAL mode with ``synchronous=NORMAL`` (our setting). Huey's
      default leaves SQLite at ``FULL``, an fsync per commit, which would slow it for reasons
      that have nothing to do with the queue, so its connection gets the same pragma.
    * Same polling: Huey's worker sleeps ``initial_delay`` (raised by ``backoff`` up to
      ``max_delay``) only when the queue is empty; it is set to 10 ms growing to 250 ms, as
      our receive loop does. With the queue full from the start neither side sleeps much.
    * Results stored on both sides (Huey ``results=True``; ours always), counted by the parent
      with the same polling loop (every 5 ms) in both databases.
    * Huey's periodic-task scheduler is disabled (``periodic=False``); it has nothing to do.
      Its consumer is started with ``Consumer.start()`` (what ``huey_consumer`` runs) and
      stopped gracefully once the parent has counted every result; our pool runs in burst
      mode and its workers exit once the queue is empty. Our pool keeps its default prefetch.

``envelope_vs_json``
    Time of our ``Envelope.encode()`` + ``decode()`` of a typical envelope (three args, a
    traceparent, root id and a header; every check the schema demands) over the standard
    library's ``json.dumps`` + ``json.loads`` of the same dict, with no checks at all. Both are
    timed in alternating loops of ``ENVELOPE_LOOPS``, ``ENVELOPE_REPEATS`` times each; the best
    loop of each side is kept (the least disturbed by other work on the machine).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.report import Line, raw

#: Tasks per round. Start-up is inside the timed span; each round prints when its first result
#: came and the rate after it, so its share is visible.
TASKS = 5_000
#: Rounds per side, interleaved (ours, Huey, ours, Huey...); the best of each is kept.
ROUNDS = 3
#: Encode+decode round trips per timed loop, and timed loops per side (alternating).
ENVELOPE_LOOPS = 20_000
ENVELOPE_REPEATS = 7
#: Worker processes on each side.
CONCURRENCY = 2
#: Give up on a round after this long (something is broken; the round counts as 0 tasks/s).
ROUND_TIMEOUT = 30.0
_POLL = 0.005
_APP_REF = "benchmarks._local_app:app"


class Timing(NamedTuple):
    """One round: seconds from consumer start to the first stored result, and to the last."""

    first: float
    total: float


def run() -> list[Line]:
    """Run both measurements, print the raw figures, return the two summary lines."""
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        for round_no in range(1, ROUNDS + 1):
            ours.append(
                _report(f"local round {round_no}", _run_ours(Path(tmp) / f"ours-{round_no}.db"))
            )
            theirs.append(
                _report(f"huey round {round_no}", _run_huey(Path(tmp) / f"huey-{round_no}.db"))
            )
    best_ours, best_theirs = max(ours), max(theirs)
    raw(f"local backend, best of {ROUNDS} ({CONCURRENCY} processes)", best_ours, "tasks/s")
    raw(f"huey SqliteHuey, best of {ROUNDS} ({CONCURRENCY} processes)", best_theirs, "tasks/s")
    envelope, plain = _envelope_vs_json()
    raw("envelope encode+decode, ours", envelope, "us")
    raw("json.dumps + json.loads of the same dict", plain, "us")
    ratio = best_ours / best_theirs if best_theirs else float("inf")
    return [
        Line("local_vs_huey", ratio, op=">=", goal=2.0),
        Line("envelope_vs_json", envelope / plain, op="<=", goal=1.0),
    ]


def _report(label: str, timing: Timing | None) -> float:
    """Print a round's rate (and when its first result came, i.e. start-up); return the rate."""
    if timing is None:
        raw(f"{label} FAILED (not all results stored)", 0.0, "tasks/s")
        return 0.0
    rate = TASKS / timing.total
    raw(f"{label}, {TASKS:,} tasks", rate, "tasks/s")
    raw(f"{label}, first result after", timing.first * 1000, "ms")
    if timing.total > timing.first:  # the rate once running, start-up left out (for insight)
        raw(f"{label}, after the first result", TASKS / (timing.total - timing.first), "tasks/s")
    return rate


def _wait_for(count: Callable[[], int], started: float, stop: threading.Event) -> Timing | None:
    """Poll ``count`` until it reaches TASKS; None if it did not within ROUND_TIMEOUT (or
    ``stop`` was set first)."""
    first: float | None = None
    while time.perf_counter() - started < ROUND_TIMEOUT and not stop.is_set():
        stored = count()
        now = time.perf_counter() - started
        if first is None and stored > 0:
            first = now
        if stored >= TASKS:
            return Timing(first or now, now)
        time.sleep(_POLL)
    return None


def _counter(path: Path, table: str) -> tuple[sqlite3.Connection, Callable[[], int]]:
    """A read-only row count of ``table`` (cheap: it walks the primary-key index)."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    sql = f"SELECT COUNT(*) FROM {table}"

    def count() -> int:
        return int(conn.execute(sql).fetchone()[0])

    return conn, count


# --- ours ------------------------------------------------------------------------------------


def _run_ours(path: Path) -> Timing | None:
    """Enqueue TASKS, then time a 2-process pool from start until every result is stored."""
    import multiprocessing

    from adapters.local.worker import run_pool
    from benchmarks import _local_app

    os.environ[_local_app.DB_ENV] = str(path)  # read by the worker processes' import
    app = _local_app.app
    app.use(f"local:{path}")
    try:
        _local_app.noop.map([(i,) for i in range(TASKS)])
    finally:
        app.close()
    conn, count = _counter(path, "results")
    # The pool is started as `dispatcher worker -c 2` would be: from a single-threaded process
    # (here a fork of this one), so it may fork its workers. This process counts results.
    pool = multiprocessing.get_context("fork").Process(
        target=run_pool, args=(_APP_REF, CONCURRENCY), kwargs={"burst": True, "grace": 5.0}
    )
    started = time.perf_counter()
    pool.start()
    try:
        timing = _wait_for(count, started, threading.Event())
    finally:
        pool.join(ROUND_TIMEOUT)
        if pool.is_alive():
            pool.kill()
            pool.join()
        ok = conn.execute("SELECT COUNT(*) FROM results WHERE status = 'succeeded'").fetchone()
        conn.close()
    return timing if pool.exitcode == 0 and ok[0] == TASKS else None


# --- Huey ------------------------------------------------------------------------------------


def _run_huey(path: Path) -> Timing | None:
    """Enqueue TASKS, then time Huey's consumer (2 processes) until every result is stored."""
    import signal

    from huey import SqliteHuey
    from huey.consumer import Consumer
    from huey.storage import SqliteStorage

    class NormalSyncStorage(SqliteStorage):  # type: ignore[misc]
        """Huey's SQLite storage with our durability: WAL and synchronous=NORMAL."""

        def _create_connection(self) -> sqlite3.Connection:
            conn: sqlite3.Connection = super()._create_connection()
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

    huey = SqliteHuey("bench", filename=str(path), results=True, storage_class=NormalSyncStorage)

    noop = huey.task()(_huey_noop)
    for i in range(TASKS):
        noop(i)
    huey.storage.close()
    conn, count = _counter(path, "kv")
    handlers: dict[int, Any] = {
        sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    consumer = Consumer(
        huey,
        workers=CONCURRENCY,
        worker_type="process",
        periodic=False,
        initial_delay=0.01,
        backoff=2.0,
        max_delay=0.25,
        check_worker_health=False,
    )
    started = time.perf_counter()
    try:
        consumer.start()
        elapsed = _wait_for(count, started, threading.Event())
    finally:
        consumer.stop(graceful=True)  # sets the stop flag and joins workers and scheduler
        for process in [p for _, p in consumer.worker_threads] + [consumer.scheduler]:
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        conn.close()
        huey.storage.close()
    return elapsed


def _huey_noop(i: int) -> int:
    """Huey's copy of the trivial task (``benchmarks._local_app.noop``)."""
    return i


# --- the envelope ----------------------------------------------------------------------------


def _envelope_vs_json() -> tuple[float, float]:
    """Microseconds per round trip: ours (encode + decode with every check), then stdlib
    ``json.dumps`` + ``json.loads`` of the same dict."""
    import json

    from dispatcher import tracing
    from dispatcher.envelope import Envelope, decode, new_id, utcnow

    root = new_id()
    envelope = Envelope(
        id=new_id(),
        task="shop.payments.charge",
        args=[42, 1999, "EUR"],
        kwargs={"capture": True},
        created_at=utcnow(),
        traceparent=tracing.new_span(),
        parent_id=root,
        root_id=root,
        headers={"tenant": "acme"},
    )
    assert decode(envelope.encode()) == envelope
    document = json.loads(envelope.encode())
    assert json.loads(json.dumps(document)) == document

    def ours() -> None:
        decode(envelope.encode())

    def plain() -> None:
        json.loads(json.dumps(document))

    timers = (timeit.Timer(ours), timeit.Timer(plain))
    best = [float("inf"), float("inf")]
    for _ in range(ENVELOPE_REPEATS):
        for side, timer in enumerate(timers):
            best[side] = min(best[side], timer.timeit(ENVELOPE_LOOPS) / ENVELOPE_LOOPS * 1e6)
    return best[0], best[1]
