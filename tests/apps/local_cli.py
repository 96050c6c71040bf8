"""An app for the `dispatcher worker` output tests: its queue file comes from $TEST_QUEUE."""

from __future__ import annotations

import os

from adapters.local.store import LocalBackend
from dispatcher import Dispatcher, NonRetryable, Retry, current

app = Dispatcher("cli")
app.use(LocalBackend(os.environ.get("TEST_QUEUE", "/nonexistent/queue.sqlite3"), app))


@app.task(name="double")
def double(n: int) -> int:
    """Twice ``n``."""
    return 2 * n


@app.task(name="refuse")
def refuse(text: str) -> None:
    """Dead-letter at once, with ``text`` as the reason."""
    raise NonRetryable(text)


@app.task(name="flaky", retry=Retry(attempts=2, delay=0.1, jitter=False))
def flaky(n: int) -> int:
    """Fail on the first attempt, succeed on the second."""
    context = current()
    if context is not None and context.attempt == 1:
        raise RuntimeError("the first attempt fails")
    return n
