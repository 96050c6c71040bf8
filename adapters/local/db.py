"""The local backend's SQLite file: connections, write transactions, the schema and migrations.

One connection per thread and process (a forked child never touches its parent's handle), in
WAL mode with ``synchronous=NORMAL``: readers never wait for the writer, and a commit costs no
fsync (a power cut may lose the last commits, never corrupt the file). Every write is one
``BEGIN IMMEDIATE`` transaction, so several worker processes share the file safely.

The schema carries its version in ``PRAGMA user_version``; :func:`migrate` brings a file made
by any earlier release up to date inside one write transaction, so two processes opening an old
file at once migrate it once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.local.errors import translated

_SQLITE_BUSY = 5
_NO_BUSY_WAIT = "PRAGMA busy_timeout = 0"

#: The schema this release writes (``PRAGMA user_version``).
SCHEMA_VERSION = 2

#: WAL pages after which a commit copies them into the database (SQLite's default is 1,000).
#: A checkpoint costs two fsyncs and recording a batch of results writes pages all over their
#: index (ids are random): a larger WAL holds ten times the commits between checkpoints, and
#: a page written by several of them is copied once.
CHECKPOINT_PAGES = 10_000
#: The WAL file is cut back to this many bytes after a checkpoint (it is reused, not grown).
WAL_LIMIT = 64 * 1024 * 1024

#: Pages SQLite may cache per connection (KiB when negative): enough for the inner pages of
#: a million-message queue's indexes, so a deep queue costs no extra reads per statement.
CACHE_KIB = 16_384

# Version 1: what the first releases created (``CREATE ... IF NOT EXISTS`` keeps it idempotent
# for files made before the version was recorded).
_TABLES = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    queue TEXT NOT NULL,
    task TEXT NOT NULL,
    body BLOB NOT NULL,
    group_key TEXT,
    timeout REAL NOT NULL,
    visible_at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    token TEXT,
    enqueued_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup (
    key TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    queue TEXT NOT NULL,
    task TEXT NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    deliveries INTEGER NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_id ON dead_letters (id);
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS starts (
    task TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS starts_task ON starts (task, at);
"""

#: Columns added since the first release: (table, column, declaration).
_ADDED_COLUMNS = (
    ("dead_letters", "cause", "TEXT"),
    ("dead_letters", "attempt", "INTEGER"),
    ("dead_letters", "timeout", "REAL"),
    # Version 2: a message of an ordering group waits, parked, until it heads its group.
    ("messages", "parked", "INTEGER NOT NULL DEFAULT 0"),
)

# Version 2: every hot statement finds its rows through one of these.
_INDEXES = """
DROP INDEX IF EXISTS messages_ready;
DROP INDEX IF EXISTS messages_task;
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, visible_at) WHERE parked = 0;
CREATE INDEX IF NOT EXISTS messages_group ON messages (queue, group_key, seq)
    WHERE group_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_leased ON messages (task, visible_at)
    WHERE token IS NOT NULL;
CREATE INDEX IF NOT EXISTS dedup_expiry ON dedup (expires_at);
"""

# Version 2: in a file from version 1 every group message was unparked; park all but the
# head (the oldest) of each group.
_PARK_GROUP_TAILS = (
    "UPDATE messages SET parked = 1 WHERE group_key IS NOT NULL AND seq > ("
    "SELECT MIN(g.seq) FROM messages g WHERE g.queue = messages.queue"
    " AND g.group_key = messages.group_key)"
)


def migrate(db: sqlite3.Connection) -> None:
    """Bring the file's schema to :data:`SCHEMA_VERSION` (nothing to do when it is there)."""
    if _version(db) >= SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if _version(db) < SCHEMA_VERSION:  # another process may have migrated meanwhile
            for statement in _statements(_TABLES):
                db.execute(statement)
            for table, column, declaration in _ADDED_COLUMNS:
                present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                    if column == "parked":
                        db.execute(_PARK_GROUP_TAILS)
            for statement in _statements(_INDEXES):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class Database:
    """The SQLite file at ``path``: this thread's connection and write transactions."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._busy_wait = f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}"
        self._local = threading.local()
        self._inherited: list[sqlite3.Connection] = []

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (a new process never reuses its parent's)."""
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid():
            return conn
        if conn is not None:
            self._inherited.append(conn)  # a forked child must never close its parent's handle
        conn = self._connect()
        local.conn, local.pid = conn, os.getpid()
        return conn

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with translated(self.path, "open"):
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB:d}")
            conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES:d}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT:d}")
            migrate(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) to avoid upgrade
        deadlocks; rolled back if anything in it raises."""
        db = self.conn
        self._begin(db)
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # a failed COMMIT (a full disk) may leave it open
                db.execute("ROLLBACK")
            raise

    def _begin(self, db: sqlite3.Connection) -> None:
        # SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries: a writer waiting
        # for another one's short transaction (well under a millisecond) would lose most of
        # that. The write lock is tried here every 0.1 ms at first, backing off to 2 ms.
        db.execute(_NO_BUSY_WAIT)
        try:
            deadline = time.monotonic() + self.busy_timeout
            pause = 0.0001
            while True:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    busy = getattr(error, "sqlite_errorcode", _SQLITE_BUSY) == _SQLITE_BUSY
                    if not busy or time.monotonic() + pause > deadline:
                        raise
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
        finally:
            db.execute(self._busy_wait)

    def close(self) -> None:
        """Close this thread's connection (a parent's, inherited by fork, is left alone)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        elif conn is not None:
            self._inherited.append(conn)
        self._local.conn = None


__all__ = ["CACHE_KIB", "CHECKPOINT_PAGES", "SCHEMA_VERSION", "WAL_LIMIT", "Database", "migrate"]
