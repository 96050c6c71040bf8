"""``local_latency_vs_huey``: from ``.delay()`` to the result being readable, one message at a
time on an idle worker, ours over Huey's SQLite backend (median of every sample of the run).

Fairness:

* One worker *process* on each side, started before the samples and left idle between them
  (a random gap of 20 to 40 ms before each send, so that neither side's timing can fall into
  step with the sends).
* Huey's consumer checks its queue every 10 ms when idle (``initial_delay=0.01``,
  ``backoff=1``: it never backs off). That is the quickest setting of the ones used in these
  benchmarks, and much quicker than Huey's default (0.1 s growing to 10 s). Ours sleeps until
  the doorbell rings (``adapters/local/doorbell.py``).
* The same durability (WAL, ``synchronous=NORMAL``) and the same trivial task, its result
  stored; the parent checks both result tables with the same query loop (every 0.25 ms), so
  "readable" means the same thing on both sides.
* Rounds interleave (ours, Huey, ours, Huey...) so that a load change on this shared machine
  hits both sides alike; the first message of a round only warms the worker up and is not
  counted.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event as StopFlag
from pathlib import Path
from typing import Any

from benchmarks.report import raw

#: Samples per side and round (after one warm-up message), and rounds per side.
SAMPLES = 40
ROUNDS = 3
#: Idle time before each send, seconds (uniform).
GAP = (0.02, 0.04)
_POLL = 0.00025
_TIMEOUT = 10.0


def measure(tmp: Path) -> float:
    """Run the rounds; print each round's median; return ours over Huey's overall median."""
    chance = random.Random(42)
    ours: list[float] = []
    theirs: list[float] = []
    for round_no in range(1, ROUNDS + 1):
        mine = _ours(tmp / f"latency-ours-{round_no}.db", chance)
        _report(f"local latency round {round_no}", mine)
        ours += mine
        huey = _huey(tmp / f"latency-huey-{round_no}.db", chance)
        _report(f"huey latency round {round_no}", huey)
        theirs += huey
    median_ours, median_theirs = statistics.median(ours), statistics.median(theirs)
    raw(f"local backend latency, median of {len(ours)}", median_ours * 1000, "ms")
    raw(f"huey SqliteHuey latency, median of {len(theirs)}", median_theirs * 1000, "ms")
    return median_ours / median_theirs


def _report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    raw(f"{label}, median", statistics.median(ordered) * 1000, "ms")
    raw(f"{label}, 90th percentile", ordered[int(len(ordered) * 0.9)] * 1000, "ms")


def _sample(send: Callable[[int], str], readable: Callable[[str], bool], n: int) -> float:
    started = time.perf_counter()
    key = send(n)
    while not readable(key):
        if time.perf_counter() - started > _TIMEOUT:
            raise TimeoutError(f"no result {_TIMEOUT} s after sending message {n}")
        time.sleep(_POLL)
    return time.perf_counter() - started


def _samples(
    send: Callable[[int], str], readable: Callable[[str], bool], chance: random.Random
) -> list[float]:
    _sample(send, readable, -1)  # the worker is up and warm
    found = []
    for n in range(SAMPLES):
        time.sleep(chance.uniform(*GAP))
        found.append(_sample(send, readable, n))
    return found


def _reader(path: Path, sql: str) -> tuple[sqlite3.Connection, Callable[[str], bool]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)

    def readable(key: str) -> bool:
        return conn.execute(sql, (key,)).fetchone() is not None

    return conn, readable


# --- ours ------------------------------------------------------------------------------------


def _serve_ours(stop: StopFlag) -> None:
    from adapters.local.worker import Worker
    from benchmarks import _local_app

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker = Worker(_local_app.app)

    def stop_when_told() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    worker.run()
    _local_app.app.close()


def _ours(path: Path, chance: random.Random) -> list[float]:
    import multiprocessing

    from adapters.local.store import LocalBackend
    from benchmarks import _local_app

    os.environ[_local_app.DB_ENV] = str(path)
    LocalBackend(path).close()  # the file, before anyone reads it
    app = _local_app.app
    app.use(f"local:{path}")
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    process = context.Process(target=_serve_ours, args=(stop,), daemon=True)
    process.start()
    conn: sqlite3.Connection | None = None
    try:
        conn, readable = _reader(path, "SELECT 1 FROM results WHERE id = ?")
        return _samples(lambda n: _local_app.noop.delay(n).id, readable, chance)
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
        if conn is not None:
            conn.close()
        app.close()


# --- Huey ------------------------------------------------------------------------------------


def _huey(path: Path, chance: random.Random) -> list[float]:
    from huey.consumer import Consumer

    from benchmarks._huey_app import huey_app

    huey, noop = huey_app(path)
    handlers: dict[int, Any] = {
        sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    consumer = Consumer(
        huey,
        workers=1,
        worker_type="process",
        periodic=False,
        initial_delay=0.01,
        backoff=1.0,
        max_delay=0.01,
        check_worker_health=False,
    )
    conn: sqlite3.Connection | None = None
    try:
        consumer.start()
        conn, readable = _reader(path, "SELECT 1 FROM kv WHERE queue = 'bench' AND key = ?")
        return _samples(lambda n: str(noop(n).id), readable, chance)
    finally:
        consumer.stop(graceful=True)
        for process in [p for _, p in consumer.worker_threads] + [consumer.scheduler]:
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if conn is not None:
            conn.close()
        huey.storage.close()


__all__ = ["measure"]
