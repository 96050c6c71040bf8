"""The local backend's results: the ``results`` table, one record per invocation id.

Claims rely on the queue's lease for exclusivity (only the lease holder runs a message), so
``claim`` only reports whether the invocation is already final.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from operator import attrgetter

import orjson

from adapters.local.db import Database
from dispatcher.backend import Claim, Status, TaskResult

_FINAL = tuple(status.value for status in Status if status.final)
_GET = "SELECT record FROM results WHERE id = ?"
_STATUS = "SELECT status FROM results WHERE id = ?"
SAVE = "INSERT OR REPLACE INTO results (id, status, record) VALUES (?, ?, ?)"


#: ``TaskResult.to_json``'s format, written by orjson from the record's fields (in order, the
#: status by value, ``updated_at`` as ``isoformat`` writes it): 2 µs a record where
#: ``to_json`` takes 15, which was a third of what recording a trivial task cost. The
#: standard library, with one encoder made once, writes what orjson refuses (an integer beyond
#: 64 bits, a lone surrogate).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_FIELDS = TaskResult.FIELDS
_VALUES = attrgetter(*_FIELDS)


def row(result: TaskResult) -> tuple[str, str, str]:
    """The ``results`` row of ``result`` (its record as :meth:`TaskResult.to_json` writes
    it, which :meth:`TaskResult.from_json` reads)."""
    data = dict(zip(_FIELDS, _VALUES(result), strict=True))
    try:
        record = orjson.dumps(data).decode()
    except orjson.JSONEncodeError:
        data["updated_at"] = result.updated_at.isoformat()
        record = _ENCODE(data)
    return (result.id, result.status.value, record)


def save(db: sqlite3.Connection, results: Sequence[TaskResult]) -> None:
    """Write ``results`` (each replacing the record of its id) in the caller's transaction."""
    save_rows(db, [row(result) for result in results])


def save_rows(db: sqlite3.Connection, rows: Sequence[tuple[str, str, str]]) -> None:
    """Write rows made by :func:`row` (made before the transaction: less time holding it)."""
    if rows:
        db.executemany(SAVE, rows)


class LocalResults:
    """:class:`~dispatcher.backend.ResultStore` on the local SQLite file."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def get(self, task_id: str) -> TaskResult | None:
        found = self._database.conn.execute(_GET, (task_id,)).fetchone()
        return TaskResult.from_json(found[0]) if found else None

    def save(self, result: TaskResult) -> None:
        with self._database.transaction() as db:
            save(db, [result])

    def save_many(self, results: Sequence[TaskResult]) -> None:
        """Save several records in one transaction."""
        with self._database.transaction() as db:
            save(db, results)

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        found = self._database.conn.execute(_STATUS, (task_id,)).fetchone()
        return Claim.DONE if found and Status(found[0]).final else Claim.GRANTED

    def finished(self, task_ids: Sequence[str]) -> set[str]:
        """Which of ``task_ids`` are final (one query for a whole batch)."""
        marks = ",".join("?" * len(task_ids))
        rows = self._database.conn.execute(
            f"SELECT id FROM results WHERE id IN ({marks}) AND status IN (?, ?, ?)",
            (*task_ids, *_FINAL),
        )
        return {found[0] for found in rows}

    def by_root(self, root_id: str) -> list[TaskResult]:
        """Every record of the chain started by ``root_id`` (that invocation included).
        Reads the whole table: an inspection, not a hot path."""
        rows = self._database.conn.execute(
            "SELECT record FROM results WHERE json_extract(record, '$.root_id') = ?", (root_id,)
        )
        return [TaskResult.from_json(found[0]) for found in rows]

    def forget(self, task_id: str) -> None:
        """Drop the record of ``task_id`` (a replayed message starts afresh)."""
        with self._database.transaction() as db:
            db.execute("DELETE FROM results WHERE id = ?", (task_id,))


__all__ = ["SAVE", "LocalResults", "row", "save", "save_rows"]
