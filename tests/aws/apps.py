"""The app the AWS tests run, in the test process and in the local runtime's handler processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dispatcher import Dispatcher, NonRetryable, Retry, current

if TYPE_CHECKING:
    from adapters.aws.receiver import SqsEventProcessor

app = Dispatcher("awstest")
_processor: SqsEventProcessor | None = None


def short_claims_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler, with claims that outlive a killed invocation by half a second
    (not 30 s), so that tests that kill an invocation see the redelivery run soon."""
    global _processor
    if _processor is None:
        from adapters.aws.entrypoint import build

        _processor = build(claim_grace=0.5)
    return _processor.handle(event, context)


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


@app.task(queue="ordered", timeout=10, group_by="group")
def append(group: str, n: int) -> int:
    """Records the order in which a group's messages ran; a negative ``n`` fails (retryable)."""
    CALLS.append(("append", (group, n)))
    if n < 0:
        raise ValueError(f"negative {n}")
    return n


@app.task(queue="slow", timeout=2)
def slow_once(marker: str) -> str:
    """Hangs on its first run (the test kills the process then), returns at once after."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(30)
    return "done"


@app.task(queue="default", timeout=10)
def big(size: int) -> str:
    """A result of ``size`` characters (above DynamoDB's 400 KB item for a large ``size``)."""
    CALLS.append(("big", size))
    return "r" * size


@app.task(queue="default", timeout=10, retry=Retry(attempts=3, delay=0, jitter=False))
def revoked_midway(key: str) -> None:
    """Revokes itself while it runs, then fails with a retryable error."""
    CALLS.append(("revoked_midway", key))
    task = current()
    assert task is not None
    app.handle(task.id, task.task).revoke()
    raise ConnectionError(f"after the revocation of {key}")


@app.task(
    queue="ordered", timeout=10, group_by="group", retry=Retry(attempts=4, delay=0, jitter=False)
)
def stubborn_head(group: str, key: str) -> int:
    """Fails on its first three attempts, then succeeds: the head of a FIFO group."""
    task = current()
    assert task is not None
    CALLS.append(("stubborn_head", (key, task.attempt)))
    if task.attempt <= 3:
        raise ConnectionError(f"head {key}, attempt {task.attempt}")
    return task.attempt


@app.task(
    queue="ordered", timeout=10, group_by="group", retry=Retry(attempts=2, delay=0, jitter=False)
)
def sibling(group: str, key: str) -> int:
    """Runs behind the head of its group; the one keyed ``fails-once`` fails its first run."""
    task = current()
    assert task is not None
    CALLS.append(("sibling", (key, task.attempt)))
    if key == "fails-once" and task.attempt == 1:
        raise ConnectionError(f"sibling {key}")
    return task.attempt


@app.task(queue="slow", timeout=1)
def quick(marker: str) -> str:
    """Appends a line to ``marker`` each time it runs (in any process)."""
    with Path(marker).open("a") as file:
        file.write(f"{os.getpid()}\n")
    return "quick"


@app.task(queue="slow", timeout=1)
def stuck(marker: str) -> str:
    """On its first run, hangs where its own time limit cannot reach it (its alarm is
    ignored, as in C code that holds on); returns at once after that."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(60)
    return "unstuck"
