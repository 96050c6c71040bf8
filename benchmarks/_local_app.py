"""The app the local-backend benchmark runs: one trivial task on a queue of its own.

Spawned worker processes import this module by reference (``benchmarks._local_app:app``), so
the database path comes from the environment, set by the parent before it starts them.
"""

from __future__ import annotations

import os

from dispatcher import Dispatcher

#: The variable that names the SQLite file (the parent sets it before spawning workers).
DB_ENV = "BENCH_LOCAL_DB"
QUEUE = "bench"

app = Dispatcher("bench", backend=f"local:{os.environ.get(DB_ENV, '/tmp/bench-local.sqlite3')}")


@app.task(queue=QUEUE)
def noop(i: int) -> int:
    """The trivial task both sides run: return the argument (stored as the result)."""
    return i
