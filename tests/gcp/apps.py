"""The app the GCP tests run, in the test process (the receiver is served from it too)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from dispatcher import Dispatcher, NonRetryable, Retry, current

app = Dispatcher("gcptest")

#: Calls of each task in this process, by task and key.
CALLS: list[tuple[str, object]] = []


@app.task(queue="default", timeout=10)
def add(a: int, b: int) -> int:
    """A trivial task."""
    CALLS.append(("add", (a, b)))
    return a + b


@app.task(queue="default", timeout=10)
def where(key: str) -> None:
    """Records the thread it runs in."""
    CALLS.append(("where", (key, threading.current_thread().name)))


@app.task(queue="default", timeout=10)
def with_asyncio_run(key: str) -> str:
    """A sync task that runs a coroutine of its own (asyncio.run), as code calling an async
    library from sync code does."""
    return asyncio.run(_echo(key))


@app.task(queue="default", timeout=10)
async def coroutine(key: str) -> str:
    """An ``async def`` task."""
    return await _echo(key)


async def _echo(key: str) -> str:
    await asyncio.sleep(0.01)
    CALLS.append(("echo", (key, threading.current_thread().name)))
    return key


@app.task(queue="default", timeout=10)
def size_of(payload: str) -> int:
    """The length of a (large) payload."""
    CALLS.append(("size_of", len(payload)))
    return len(payload)


@app.task(queue="default", timeout=10, retry=Retry(attempts=3, delay=1.5, jitter=False))
def flaky(key: str) -> str:
    """Fails on its first attempt, succeeds after (backoff 1.5 s)."""
    task = current()
    CALLS.append(("flaky", (key, time.monotonic())))
    if task is not None and task.attempt == 1:
        raise ConnectionError(f"flaky {key}")
    return key


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


@app.task(queue="slow", timeout=2, retry=Retry(attempts=3, delay=0.5, jitter=False))
def slow_once(marker: str) -> str:
    """Hangs on its first run (the test kills the receiver then), returns at once after."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(30)
    CALLS.append(("slow_once", marker))
    return "done"


#: An app no GCP deployment can hold (the deploy policy refuses it; so does the producer).
oversized = Dispatcher("gcpbig")


@oversized.task(queue="long", timeout=3_600)
def too_long() -> None:
    """A timeout Cloud Tasks cannot give an HTTP task (over 30 minutes)."""


@app.task(queue="default", schedule="every 1 minutes")
def tick() -> str:
    """A periodic task."""
    CALLS.append(("tick", None))
    return "tick"
