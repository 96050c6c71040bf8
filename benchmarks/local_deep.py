"""``local_deep_queue_ratio`` and ``local_deep_enqueue_ratio``: the local backend with a
million messages already queued, over the same backend with an empty queue.

The deep file holds 1,000,000 filler messages (``benchmarks/_deep_queue.py``): nine in ten on
the benchmark's own queue, delayed a day or more into the future, one in ten on another queue,
due now (and never run: no worker of this benchmark reads that queue). It is filled once per
run with one ``INSERT ... SELECT`` from a recursive CTE; the empty file gets the same schema.

Both files are used for the whole measurement, side by side, in short interleaved rounds
(empty, deep, empty, deep...), so that the load of this shared machine, which changes from one
second to the next, falls on both alike; the best round of each side counts.

* Enqueue: ``SEND_ROUNDS`` rounds of ``SENDS`` single ``.delay()`` calls (one transaction each:
  what a web request does).
* Run: ``RUN_ROUNDS`` rounds of ``BATCH`` messages sent with ``.map()`` (one transaction, timed
  for insight), then run by a 2-process pool (as ``dispatcher worker -c 2 --burst``); tasks/s is
  timed from its start until every result is stored (the first round also runs the messages of
  the enqueue rounds).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks import _local_app
from benchmarks._deep_queue import fill
from benchmarks._local_pool import time_pool
from benchmarks.report import raw

DEPTH = 1_000_000
SENDS = 2_500
SEND_ROUNDS = 8
BATCH = 10_000
RUN_ROUNDS = 6
CONCURRENCY = 2
SIDES = ("empty", "deep")


def measure(tmp: Path) -> tuple[float, float]:
    """The (tasks/s, single-send rate) ratios, deep over empty, best rounds."""
    from adapters.local.store import LocalBackend

    files = {side: tmp / f"{side}.db" for side in SIDES}
    started = time.perf_counter()
    fill(files["deep"], DEPTH, queue=_local_app.QUEUE)
    raw(f"deep queue: {DEPTH:,} messages filled in", time.perf_counter() - started, "s")
    LocalBackend(files["empty"]).close()
    sent = dict.fromkeys(SIDES, 0)
    single = dict.fromkeys(SIDES, 0.0)
    for round_no in range(1, SEND_ROUNDS + 1):
        for side in SIDES:
            rate = _send(files[side], SENDS)
            sent[side] += SENDS
            raw(f"{side} queue, round {round_no}, enqueue (.delay)", rate, "msg/s")
            single[side] = max(single[side], rate)
    batch = dict.fromkeys(SIDES, 0.0)
    run = dict.fromkeys(SIDES, 0.0)
    for round_no in range(1, RUN_ROUNDS + 1):
        for side in SIDES:
            rate = _map(files[side], BATCH)
            timing = time_pool(files[side], sent[side] + BATCH, CONCURRENCY)
            ran = (sent[side] + BATCH) / timing.total if timing else 0.0
            raw(f"{side} queue, round {round_no}, enqueue (.map of {BATCH:,})", rate, "msg/s")
            raw(f"{side} queue, round {round_no}, run ({CONCURRENCY} processes)", ran, "tasks/s")
            batch[side], run[side] = max(batch[side], rate), max(run[side], ran)
            sent[side] = 0
            _forget_results(files[side])
    ratios = {}
    for name, best in (("enqueue (.delay)", single), ("enqueue (.map)", batch), ("run", run)):
        ratios[name] = best["deep"] / best["empty"] if best["empty"] else 0.0
        raw(f"deep over empty, {name}, best rounds", ratios[name], "x")
    return ratios["run"], ratios["enqueue (.delay)"]


def _use(path: Path) -> None:
    os.environ[_local_app.DB_ENV] = str(path)  # read by the worker processes' import
    _local_app.app.use(f"local:{path}")


def _send(path: Path, count: int) -> float:
    _use(path)
    try:
        started = time.perf_counter()
        for n in range(count):
            _local_app.noop.delay(n)
        return count / (time.perf_counter() - started)
    finally:
        _local_app.app.close()


def _map(path: Path, count: int) -> float:
    _use(path)
    try:
        started = time.perf_counter()
        _local_app.noop.map([(n,) for n in range(count)])
        return count / (time.perf_counter() - started)
    finally:
        _local_app.app.close()


def _forget_results(path: Path) -> None:
    """Empty the results table between rounds (each round counts its own results)."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM results")
    db.close()


__all__ = ["measure"]
