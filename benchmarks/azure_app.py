"""The app the Azure benchmark runs: a trivial task and a 1 ms task on one queue."""

from __future__ import annotations

from benchmarks.azure_plain import add as plain_add
from benchmarks.azure_plain import busy_ms
from dispatcher import Dispatcher

app = Dispatcher("benchaz")


@app.task(queue="bench", timeout=30)
def add(a: int, b: int) -> int:
    """The trivial task."""
    return plain_add(a, b)


@app.task(queue="bench", timeout=30)
def work(n: int) -> int:
    """About 1 ms of work (a busy wait, so that the timing is steady)."""
    return busy_ms(n)
