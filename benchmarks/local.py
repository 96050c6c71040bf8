"""The local backend against Huey's SQLite backend and against itself with a deep queue, and
the envelope against plain ``json``.

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
      ``max_delay``) only when the queue is empty; it is set to 10 ms growing to 250 ms. With
      the queue full from the start neither side waits.
    * Results stored on both sides (Huey ``results=True``; ours always), counted by the parent
      with the same polling loop (every 5 ms) in both databases.
    * Huey's periodic-task scheduler is disabled (``periodic=False``); it has nothing to do.
      Its consumer is started with ``Consumer.start()`` (what ``huey_consumer`` runs) and
      stopped gracefully once the parent has counted every result; our pool runs in burst
      mode and its workers exit once the queue is empty. Our pool keeps its default prefetch.

``local_latency_vs_huey``
    From ``.delay()`` to a readable result, one message at a time on an idle worker
    (``benchmarks/local_latency.py`` says how it is kept fair).

``local_deep_queue_ratio``, ``local_deep_enqueue_ratio``
    Tasks/s and single-send rate with 1,000,000 messages already queued over the same with an
    empty queue (``benchmarks/local_deep.py``).

``envelope_vs_json``
    Time of our ``Envelope.encode()`` + ``decode()`` of a typical envelope (three args, a
    traceparent, root id and a header; every check the schema demands) over the standard
    library's ``json.dumps`` + ``json.loads`` of the same dict, with no checks at all. Both are
    timed in alternating loops of ``ENVELOPE_LOOPS``, ``ENVELOPE_REPEATS`` times each; the best
    loop of each side is kept (the least disturbed by other work on the machine).
"""

from __future__ import annotations

import signal
import tempfile
import threading
import time
import timeit
from pathlib import Path
from typing import Any

from benchmarks import local_deep, local_latency
from benchmarks._local_pool import Timing, counter, time_pool, wait_for
from benchmarks.report import Line, raw

#: Tasks per round. Start-up is inside the timed span; each round prints when its first result
#: came and the rate after it, so its share is visible.
TASKS = 20_000
#: Rounds per side, interleaved (ours, Huey, ours, Huey...); the best of each is kept.
ROUNDS = 4
#: Encode+decode round trips per timed loop, and timed loops per side (alternating).
ENVELOPE_LOOPS = 20_000
ENVELOPE_REPEATS = 7
#: Worker processes on each side.
CONCURRENCY = 2


def run() -> list[Line]:
    """Run the measurements, print the raw figures, return the summary lines."""
    started = time.perf_counter()
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-local-") as name:
        tmp = Path(name)
        for round_no in range(1, ROUNDS + 1):
            ours.append(_report(f"local round {round_no}", _run_ours(tmp / f"ours-{round_no}.db")))
            theirs.append(_report(f"huey round {round_no}", _run_huey(tmp / f"huey-{round_no}.db")))
        best_ours, best_theirs = max(ours), max(theirs)
        raw(f"local backend, best of {ROUNDS} ({CONCURRENCY} processes)", best_ours, "tasks/s")
        raw(f"huey SqliteHuey, best of {ROUNDS} ({CONCURRENCY} processes)", best_theirs, "tasks/s")
        latency = local_latency.measure(tmp)
        deep_run, deep_enqueue = local_deep.measure(tmp)
    raw("local benchmarks took", time.perf_counter() - started, "s")
    envelope, plain = _envelope_vs_json()
    raw("envelope encode+decode, ours", envelope, "us")
    raw("json.dumps + json.loads of the same dict", plain, "us")
    ratio = best_ours / best_theirs if best_theirs else float("inf")
    return [
        Line("local_vs_huey", ratio, op=">=", goal=4.0),
        Line("local_latency_vs_huey", latency, op="<=", goal=1.0),
        Line("local_deep_queue_ratio", deep_run, op=">=", goal=0.8),
        Line("local_deep_enqueue_ratio", deep_enqueue, op=">=", goal=0.8),
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


# --- ours ------------------------------------------------------------------------------------


def _run_ours(path: Path) -> Timing | None:
    """Enqueue TASKS, then time a 2-process pool from start until every result is stored."""
    import os

    from benchmarks import _local_app

    os.environ[_local_app.DB_ENV] = str(path)  # read by the worker processes' import
    app = _local_app.app
    app.use(f"local:{path}")
    try:
        _local_app.noop.map([(i,) for i in range(TASKS)])
    finally:
        app.close()
    return time_pool(path, TASKS, CONCURRENCY)


# --- Huey ------------------------------------------------------------------------------------


def _run_huey(path: Path) -> Timing | None:
    """Enqueue TASKS, then time Huey's consumer (2 processes) until every result is stored."""
    from huey.consumer import Consumer

    from benchmarks._huey_app import huey_app

    huey, noop = huey_app(path)
    for i in range(TASKS):
        noop(i)
    huey.storage.close()
    conn, count = counter(path, "kv")
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
        elapsed = wait_for(count, TASKS, started, threading.Event())
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
