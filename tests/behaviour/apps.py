"""The app every backend runs in the shared behaviour tests."""

from __future__ import annotations

import time

from dispatcher import Dispatcher, NonRetryable, Retry, current

app = Dispatcher("behave")

#: (task, argument, attempt, time) of every run in this process.
RUNS: list[tuple[str, object, int, float]] = []


def _ran(task: str, argument: object) -> None:
    context = current()
    RUNS.append((task, argument, context.attempt if context else 0, time.time()))


@app.task(queue="work", timeout=10)
def add(a: int, b: int) -> int:
    """A trivial task."""
    _ran("add", (a, b))
    return a + b


@app.task(queue="work", timeout=10, retry=Retry(attempts=3, delay=1, jitter=False))
def flaky(key: str) -> str:
    """Fails on its first attempt; the retry comes a second later."""
    _ran("flaky", key)
    context = current()
    if context is not None and context.attempt == 1:
        raise ConnectionError(f"flaky {key}")
    return key


@app.task(queue="work", timeout=10, retry=Retry(attempts=2, delay=0, jitter=False))
def always_fails(key: str) -> None:
    """Fails on both of its attempts."""
    _ran("always_fails", key)
    raise RuntimeError(f"broken {key}")


@app.task(queue="work", timeout=10)
def refuse(country: str) -> None:
    """Dead-lettered at once."""
    _ran("refuse", country)
    raise NonRetryable(f"we do not ship to {country!r}")


@app.task(queue="work", timeout=30)
def size_of(payload: str) -> int:
    """The length of a large payload."""
    _ran("size_of", len(payload))
    return len(payload)
