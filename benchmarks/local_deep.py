"""``local_deep_queue_ratio`` and ``local_deep_enqueue_ratio``: the local backend with a
million messages already queued, over the same backend with an empty queue.

The deep file holds 1,000,000 filler messages (``benchmarks/_deep_queue.py``): nine in ten on
the benchmark's own queue, delayed a day or more into the future, one in ten on another queue,
due now (and never run: no worker of this benchmark reads that queue). It is filled once per
run with one ``INSERT ... SELECT`` from a recursive CTE, and copied for each round; the empty
file gets the same schema.

Each round, on a fresh copy: ``ENQUEUE`` single ``.delay()`` calls (one transaction each: what
a web request does) are timed, then ``BATCH`` more are sent with ``.map()`` (one transaction,
timed for insight), then a 2-process pool (as ``dispatcher worker -c 2 --burst``) runs all of
them; tasks/s is timed from its start until every result is stored. Rounds interleave (empty,
deep, empty, deep...); the best round of each side counts for each figure.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from benchmarks import _local_app
from benchmarks._deep_queue import fill
from benchmarks._local_pool import time_pool
from benchmarks.report import raw

DEPTH = 1_000_000
ENQUEUE = 5_000
BATCH = 20_000
ROUNDS = 4
CONCURRENCY = 2


def measure(tmp: Path) -> tuple[float, float]:
    """The (tasks/s, enqueue rate) ratios, deep over empty, best rounds."""
    from adapters.local.store import LocalBackend

    deep, empty = tmp / "deep-template.db", tmp / "empty-template.db"
    started = time.perf_counter()
    fill(deep, DEPTH, queue=_local_app.QUEUE)
    raw(f"deep queue: {DEPTH:,} messages filled in", time.perf_counter() - started, "s")
    LocalBackend(empty).close()
    best: dict[str, list[float]] = {"empty": [0.0, 0.0, 0.0], "deep": [0.0, 0.0, 0.0]}
    for round_no in range(1, ROUNDS + 1):
        for side, template in (("empty", empty), ("deep", deep)):
            path = tmp / f"{side}-{round_no}.db"
            shutil.copyfile(template, path)
            try:
                rates = _round(path)
            finally:
                for leftover in path.parent.glob(f"{path.name}*"):
                    leftover.unlink()
            label = f"{side} queue round {round_no}"
            raw(f"{label}, enqueue (.delay)", rates[0], "msg/s")
            raw(f"{label}, enqueue (.map of {BATCH:,})", rates[1], "msg/s")
            raw(f"{label}, run ({CONCURRENCY} processes)", rates[2], "tasks/s")
            best[side] = [max(b, r) for b, r in zip(best[side], rates, strict=True)]
    names = ("enqueue (.delay)", "enqueue (.map)", "run")
    for index, name in enumerate(names):
        ratio = best["deep"][index] / best["empty"][index] if best["empty"][index] else 0.0
        raw(f"deep over empty, {name}, best rounds", ratio, "x")
    run_ratio = best["deep"][2] / best["empty"][2] if best["empty"][2] else 0.0
    enqueue_ratio = best["deep"][0] / best["empty"][0] if best["empty"][0] else 0.0
    return run_ratio, enqueue_ratio


def _round(path: Path) -> list[float]:
    """(single-send rate, batch-send rate, run rate) on the queue file at ``path``."""
    os.environ[_local_app.DB_ENV] = str(path)  # read by the worker processes' import
    app = _local_app.app
    app.use(f"local:{path}")
    try:
        started = time.perf_counter()
        for n in range(ENQUEUE):
            _local_app.noop.delay(n)
        single = ENQUEUE / (time.perf_counter() - started)
        started = time.perf_counter()
        _local_app.noop.map([(n,) for n in range(BATCH)])
        batch = BATCH / (time.perf_counter() - started)
    finally:
        app.close()
    timing = time_pool(path, ENQUEUE + BATCH, CONCURRENCY)
    return [single, batch, (ENQUEUE + BATCH) / timing.total if timing else 0.0]


__all__ = ["measure"]
