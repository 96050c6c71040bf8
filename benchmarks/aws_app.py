"""The app the AWS benchmark runs: a trivial task and a 1 ms task on one standard queue."""

from __future__ import annotations

import time

from dispatcher import Dispatcher

app = Dispatcher("bench")


@app.task(queue="bench", timeout=30)
def add(a: int, b: int) -> int:
    """The trivial task."""
    return a + b


@app.task(queue="bench", timeout=30)
def work(n: int) -> int:
    """About 1 ms of work (a busy wait, so that the timing is steady)."""
    return busy_ms(n)


def busy_ms(n: int) -> int:
    """Spin for 1 ms; the plain function the baselines call."""
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass
    return n
