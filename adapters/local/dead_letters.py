"""The local backend's dead letters: the ``dead_letters`` table, by message id.

A replay is one transaction: the message goes back on its queue (from attempt 1, its old
result forgotten) and leaves the table together, so nothing can be lost or doubled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.local import queue
from dispatcher import dead_letters
from dispatcher.operations import DeadLetterEntry

if TYPE_CHECKING:
    from adapters.local.store import LocalBackend

_COLUMNS = "seq, id, queue, task, body, reason, deliveries, failed_at, cause, attempt"


class LocalDeadLetters:
    """:class:`~dispatcher.backend.DeadLetters` on the local SQLite file."""

    def __init__(self, store: LocalBackend) -> None:
        self.store = store

    def entries(self, queues: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Every dead letter (of ``queues``), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM dead_letters"
        params: tuple[str, ...] = ()
        if queues is not None:
            sql += f" WHERE queue IN ({','.join('?' * len(queues))})"
            params = tuple(queues)
        rows = self.store.db.execute(sql + " ORDER BY seq", params).fetchall()
        return [_entry(row) for row in rows]

    def show(self, message_id: str) -> DeadLetterEntry:
        [found] = dead_letters.choose(self.entries(), [message_id])
        return found

    def replay(self, message_ids: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Back on their queues as fresh deliveries, in one transaction."""
        chosen = dead_letters.choose(self.entries(), message_ids)
        now = time.time()
        with self.store.transaction() as db:
            for letter in chosen:
                body = dead_letters.replay_body(letter.body)
                envelope = dead_letters.envelope_of(body)
                (timeout,) = db.execute(
                    "SELECT MAX(timeout) FROM dead_letters WHERE id = ?", (letter.id,)
                ).fetchone()
                db.execute("DELETE FROM results WHERE id = ?", (letter.id,))
                row = queue.NewMessage(
                    letter.id,
                    letter.queue,
                    letter.task or "?",
                    body,
                    envelope.group_key if envelope else None,
                    timeout or 60.0,
                    now,
                )
                queue.insert(db, row, now)
                db.execute("DELETE FROM dead_letters WHERE id = ?", (letter.id,))
        self.store.doorbell.ring()
        return chosen

    def purge(self, message_ids: Sequence[str] | None = None) -> int:
        """Delete them for good."""
        chosen = dead_letters.choose(self.entries(), message_ids)
        with self.store.transaction() as db:
            db.executemany("DELETE FROM dead_letters WHERE id = ?", [(e.id,) for e in chosen])
        return len(chosen)


def _entry(row: tuple[object, ...]) -> DeadLetterEntry:
    _seq, message_id, queue, task, body, reason, deliveries, failed_at, cause, attempt = row
    assert isinstance(body, bytes)
    return dead_letters.entry(
        body,
        queue=str(queue),
        reason=str(reason),
        backend_id=str(message_id),
        cause=None if cause is None else str(cause),
        attempt=int(str(attempt if attempt is not None else deliveries)),
        died_at=datetime.fromtimestamp(float(str(failed_at)), UTC),
        task=str(task),
    )
