"""An app for process tests: its queue file comes from $TEST_QUEUE, its leases are short."""

from __future__ import annotations

import os
import time
from pathlib import Path

from adapters.local.store import LocalBackend
from dispatcher import Dispatcher

app = Dispatcher("slow")
app.use(
    LocalBackend(os.environ.get("TEST_QUEUE", "/nonexistent/queue.sqlite3"), app, lease_grace=0.5)
)
MARKS = Path(os.environ.get("TEST_MARKS", "/nonexistent"))


@app.task(name="work", timeout=1.0)
def work(n: int, seconds: float = 0.0) -> int:
    """Leave a mark when started, sleep, leave a mark when finished."""
    with (MARKS / f"started-{n}").open("a") as mark:
        mark.write("x")
    time.sleep(seconds)
    (MARKS / f"finished-{n}").touch()
    return n * 10
