"""Huey's side of the local benchmarks: a ``SqliteHuey`` with our durability and the trivial
task, on a file of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any


def huey_app(path: Path) -> tuple[Any, Callable[[int], Any]]:
    """A fresh ``SqliteHuey`` named ``bench`` on ``path`` (WAL, ``synchronous=NORMAL`` as
    ours; results stored) and its ``noop`` task."""
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    class NormalSyncStorage(SqliteStorage):  # type: ignore[misc]
        """Huey's SQLite storage with our durability: WAL and synchronous=NORMAL."""

        def _create_connection(self) -> sqlite3.Connection:
            conn: sqlite3.Connection = super()._create_connection()
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

    huey = SqliteHuey("bench", filename=str(path), results=True, storage_class=NormalSyncStorage)
    return huey, huey.task()(noop)


def noop(i: int) -> int:
    """Huey's copy of the trivial task (``benchmarks._local_app.noop``)."""
    return i


__all__ = ["huey_app", "noop"]
