"""Fill a local queue file with many messages at once (the deep-queue benchmark and the
query-plan tests): one ``INSERT ... SELECT`` from a recursive CTE, so a million rows take
seconds, not minutes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from adapters.local.store import LocalBackend

_FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO messages (id, queue, task, body, group_key, timeout, visible_at, deliveries, token,
                      enqueued_at, parked)
SELECT printf('filler-%d', i),
       CASE WHEN i % ? = 0 THEN 'elsewhere' ELSE ? END,
       ?, zeroblob(?), NULL, 60.0,
       CASE WHEN i % ? = 0 THEN ? ELSE ? + i END,
       0, NULL, ?, 0
FROM n
"""


def fill(
    path: Path,
    count: int,
    *,
    queue: str = "default",
    task: str = "filler",
    body_size: int = 200,
    other_queue_every: int = 10,
    now: float | None = None,
) -> None:
    """Put ``count`` filler messages in the file at ``path`` (created with our schema):
    every ``other_queue_every``-th on queue ``elsewhere`` and due now, the rest on ``queue``
    and delayed a day or more into the future (so none of them runs during a test)."""
    LocalBackend(path).close()  # the schema, as this release writes it
    now = time.time() if now is None else now
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("BEGIN")
        db.execute(
            _FILL,
            (
                count,
                other_queue_every,
                queue,
                task,
                body_size,
                other_queue_every,
                now,
                now + 86_400,
                now,
            ),
        )
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


__all__ = ["fill"]
