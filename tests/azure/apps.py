"""The app the Azure tests run (in the test process, and in hosts started as processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dispatcher import Dispatcher, NonRetryable, Retry, current

app = Dispatcher("aztest")

#: Calls of each task in this process, by task and key.
CALLS: list[tuple[str, object]] = []


@app.task(queue="default", timeout=10)
def add(a: int, b: int) -> int:
    """A trivial task."""
    CALLS.append(("add", (a, b)))
    return a + b


@app.task(queue="default", timeout=10)
def size_of(payload: str) -> int:
    """The length of a (large) payload."""
    CALLS.append(("size_of", len(payload)))
    return len(payload)


@app.task(queue="default", timeout=10, retry=Retry(attempts=3, delay=120, jitter=False))
def flaky(key: str) -> str:
    """Fails on its first attempt, succeeds after (backoff 120 s)."""
    task = current()
    CALLS.append(("flaky", key))
    if task is not None and task.attempt == 1:
        raise ConnectionError(f"flaky {key}")
    return key


@app.task(queue="default", timeout=10, retry=Retry(attempts=3, delay=1, jitter=False))
def hiccup(key: str) -> str:
    """Fails on its first attempt, succeeds after (backoff 1 s)."""
    task = current()
    CALLS.append(("hiccup", key))
    if task is not None and task.attempt == 1:
        raise ConnectionError(f"hiccup {key}")
    return key


@app.task(queue="default", timeout=10, retry=Retry(attempts=4, delay=10, backoff=3, jitter=False))
def backs_off(key: str) -> None:
    """Always fails: retried after 10, 30 and 90 s, then dead-lettered."""
    CALLS.append(("backs_off", key))
    raise TimeoutError(f"upstream slow for {key}")


@app.task(queue="default", timeout=10, retry=Retry(attempts=2, delay=0, jitter=False))
def always_fails(key: str) -> None:
    """Fails every time: dead-lettered after its two attempts."""
    CALLS.append(("always_fails", key))
    raise RuntimeError(f"broken {key}")


@app.task(queue="default", timeout=10)
def refuse(country: str) -> None:
    """Never succeeds: dead-lettered at once."""
    CALLS.append(("refuse", country))
    raise NonRetryable(f"we do not ship to {country!r}")


@app.task(queue="reports", timeout=10, schedule="every 5 minutes")
def report() -> str:
    """A periodic task."""
    CALLS.append(("report", None))
    return "report"


@app.task(queue="slow", timeout=3)
def slow_once(marker: str) -> str:
    """Hangs on its first run (the test kills the host then), returns at once after."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(60)
    return "done"
