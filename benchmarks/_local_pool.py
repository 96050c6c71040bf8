"""What the local benchmarks share: time a worker pool (as ``dispatcher worker -c N`` runs it)
from its start until a number of results are stored, and count rows of a table meanwhile."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

#: Give up after this long (something is broken; the round counts as failed).
ROUND_TIMEOUT = 60.0
_POLL = 0.005
_APP_REF = "benchmarks._local_app:app"


class Timing(NamedTuple):
    """One round: seconds from consumer start to the first stored result, and to the last."""

    first: float
    total: float


def wait_for(
    count: Callable[[], int], expected: int, started: float, stop: threading.Event
) -> Timing | None:
    """Poll ``count`` until it reaches ``expected``; None if it did not within
    ROUND_TIMEOUT (or ``stop`` was set first)."""
    first: float | None = None
    while time.perf_counter() - started < ROUND_TIMEOUT and not stop.is_set():
        stored = count()
        now = time.perf_counter() - started
        if first is None and stored > 0:
            first = now
        if stored >= expected:
            return Timing(first or now, now)
        time.sleep(_POLL)
    return None


def counter(path: Path, table: str) -> tuple[sqlite3.Connection, Callable[[], int]]:
    """A read-only row count of ``table`` (cheap: it walks the primary-key index)."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    sql = f"SELECT COUNT(*) FROM {table}"

    def count() -> int:
        return int(conn.execute(sql).fetchone()[0])

    return conn, count


def time_pool(path: Path, expected: int, concurrency: int) -> Timing | None:
    """Start a burst pool of ``concurrency`` processes on the queue file at ``path`` (already
    holding the messages) and time it until ``expected`` results are stored, all succeeded;
    None when that did not happen."""
    import multiprocessing

    from adapters.local.pool import run_pool

    conn, count = counter(path, "results")
    # The pool is started as `dispatcher worker -c N` would be: from a single-threaded process
    # (here a fork of this one), so it may fork its workers. This process counts results.
    pool = multiprocessing.get_context("fork").Process(
        target=run_pool, args=(_APP_REF, concurrency), kwargs={"burst": True, "grace": 5.0}
    )
    started = time.perf_counter()
    pool.start()
    try:
        timing = wait_for(count, expected, started, threading.Event())
    finally:
        pool.join(ROUND_TIMEOUT)
        if pool.is_alive():
            pool.kill()
            pool.join()
        ok = conn.execute("SELECT COUNT(*) FROM results WHERE status = 'succeeded'").fetchone()
        conn.close()
    return timing if pool.exitcode == 0 and ok[0] == expected else None


__all__ = ["ROUND_TIMEOUT", "Timing", "counter", "time_pool", "wait_for"]
