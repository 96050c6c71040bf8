"""The app the GCP benchmark runs: a trivial task and a 1 ms task on one queue."""

from __future__ import annotations

from benchmarks.aws_app import busy_ms
from dispatcher import Dispatcher

app = Dispatcher("bench")


@app.task(queue="bench", timeout=30)
def add(a: int, b: int) -> int:
    """The trivial task."""
    return a + b


@app.task(queue="bench", timeout=30)
def work(n: int) -> int:
    """About 1 ms of work."""
    return busy_ms(n)
