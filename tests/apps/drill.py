"""Apps for the local backend's reliability drills (``tests/local/test_drills.py``).

``app``: one short task that writes a mark (``n pid``) per execution to $TEST_MARKS, on the
queue file $TEST_QUEUE, with short leases so that a killed worker's messages come back soon.

``shop`` / ``billing``: two apps sharing one file. ``shop``'s code version comes from
$APP_VERSION: version 1 knows ``keep`` and ``gone``, version 2 only ``keep``.
"""

from __future__ import annotations

import os
import time

from adapters.local.store import LocalBackend
from dispatcher import Dispatcher

QUEUE = os.environ.get("TEST_QUEUE", "/nonexistent/queue.sqlite3")
MARKS = os.environ.get("TEST_MARKS", "/nonexistent/marks")
VERSION = int(os.environ.get("APP_VERSION", "2"))

app = Dispatcher("drill")
app.use(LocalBackend(QUEUE, app, lease_grace=0.5))


@app.task(name="step", timeout=1.0)
def step(n: int) -> int:
    """Mark this execution, take a few milliseconds, return ``n``."""
    fd = os.open(MARKS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{n} {os.getpid()}\n".encode())  # one write: whole lines, never mixed
    finally:
        os.close(fd)
    time.sleep(0.004)
    return n


shop = Dispatcher("shop")
shop.use(LocalBackend(QUEUE, shop))


@shop.task(name="keep")
def keep(n: int) -> int:
    """Known to every version."""
    return n


if VERSION == 1:

    @shop.task(name="gone")
    def gone(n: int) -> int:
        """Only version 1 knows it."""
        return n


billing = Dispatcher("billing")
billing.use(LocalBackend(QUEUE, billing))


@billing.task(name="invoice", queue="billing")
def invoice(n: int) -> str:
    """Another app's task, on its own queue of the same file."""
    return f"invoice {n}"
