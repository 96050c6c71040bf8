"""The embedded local backend: a durable queue, dead letters and results in one SQLite file.

SQLite in WAL mode; every write is one ``BEGIN IMMEDIATE`` transaction, so several worker
processes share the file safely. A received message is *leased*: its ``visible_at`` moves to
the end of the lease and a fresh token is written; acking, retrying or dead-lettering needs that
token, and a worker killed mid-task simply lets the lease run out and the message is delivered
again (the model of SQS visibility timeouts).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.local.dead_letters import LocalDeadLetters
from dispatcher.backend import (
    Ack,
    Claim,
    DeadLetter,
    Delivery,
    Outcome,
    Outgoing,
    QueueStat,
    Receipt,
    RetryLater,
    SendFailure,
    Status,
    TaskResult,
)
from dispatcher.errors import BackendUnavailable

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

#: How long a dedup key suppresses repeats, as on SQS FIFO queues.
DEDUP_WINDOW = 300.0
#: Seconds a lease outlives the task's timeout.
LEASE_GRACE = 30.0

_INHERITED: list[sqlite3.Connection] = []

_SCHEMA = """
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
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at);
CREATE INDEX IF NOT EXISTS messages_group ON messages (queue, group_key, seq)
    WHERE group_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_task ON messages (task, token);
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
    failed_at REAL NOT NULL,
    cause TEXT,
    attempt INTEGER,
    timeout REAL
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
)


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns a file made by an older release lacks."""
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-task admission limits the lease query enforces: concurrency and rate."""

    concurrency: dict[str, int]
    rate: dict[str, tuple[int, float]]


class LocalResults:
    """The ``results`` table. Claims rely on the queue lease for exclusivity, so ``claim`` only
    reports whether the invocation is already final."""

    def __init__(self, store: LocalBackend) -> None:
        self._store = store

    def get(self, task_id: str) -> TaskResult | None:
        row = self._store.db.execute(
            "SELECT record FROM results WHERE id = ?", (task_id,)
        ).fetchone()
        return TaskResult.from_json(row[0]) if row else None

    def save(self, result: TaskResult) -> None:
        with self._store.transaction() as db:
            _save_result(db, result)

    def save_many(self, results: Sequence[TaskResult]) -> None:
        """Save several records in one transaction."""
        with self._store.transaction() as db:
            for result in results:
                _save_result(db, result)

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        row = self._store.db.execute(
            "SELECT status FROM results WHERE id = ?", (task_id,)
        ).fetchone()
        return Claim.DONE if row and Status(row[0]).final else Claim.GRANTED

    def finished(self, task_ids: Sequence[str]) -> set[str]:
        """Which of ``task_ids`` are final (one query for a whole batch)."""
        marks = ",".join("?" * len(task_ids))
        rows = self._store.db.execute(
            f"SELECT id FROM results WHERE id IN ({marks}) AND status IN (?, ?, ?)",
            (*task_ids, *_FINAL),
        )
        return {row[0] for row in rows}

    def by_root(self, root_id: str) -> list[TaskResult]:
        """Every record of the chain started by ``root_id`` (that invocation included)."""
        rows = self._store.db.execute(
            "SELECT record FROM results WHERE json_extract(record, '$.root_id') = ?", (root_id,)
        )
        return [TaskResult.from_json(row[0]) for row in rows]

    def forget(self, task_id: str) -> None:
        """Drop the record of ``task_id`` (a replayed message starts afresh)."""
        with self._store.transaction() as db:
            db.execute("DELETE FROM results WHERE id = ?", (task_id,))


_FINAL = tuple(status.value for status in Status if status.final)
_SAVE_RESULT = "INSERT OR REPLACE INTO results (id, status, record) VALUES (?, ?, ?)"


def _save_result(db: sqlite3.Connection, result: TaskResult) -> None:
    db.execute(_SAVE_RESULT, (result.id, result.status.value, result.to_json()))


class LocalBackend:
    """The SQLite queue. Implements :class:`~dispatcher.backend.Backend` and
    :class:`~dispatcher.backend.Consumer`."""

    def __init__(
        self, path: str | Path, app: Dispatcher | None = None, *, lease_grace: float = LEASE_GRACE
    ) -> None:
        self.path = Path(path)
        self.app = app
        self.lease_grace = lease_grace
        self.results = LocalResults(self)
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db.executescript(_SCHEMA)
        _migrate(self.db)
        self.dead_letters = LocalDeadLetters(self)

    def __repr__(self) -> str:
        return f"<LocalBackend {self.path}>"

    # --- connections -------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (a new process never reuses its parent's)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            if conn is not None:
                _INHERITED.append(conn)  # a forked child must never close its parent's handle
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            except sqlite3.Error as error:
                raise BackendUnavailable(f"cannot open local queue {self.path}: {error}") from None
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) to avoid upgrade deadlocks."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        elif conn is not None:
            _INHERITED.append(conn)
        self._local.conn = None

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: Outgoing) -> Receipt:
        with self.transaction() as db:
            return self._insert(db, message, time.time())

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        now = time.time()
        with self.transaction() as db:
            return [self._insert(db, message, now) for message in messages]

    def send_raw(self, queue: str, body: bytes, task: str = "?", delay: float = 0.0) -> None:
        """Put bytes on a queue as they are, as a producer in another language would."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO messages (id, queue, task, body, timeout, visible_at, enqueued_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (uuid.uuid4().hex, queue, task, body, 60.0, now + delay, now),
            )

    def _insert(self, db: sqlite3.Connection, message: Outgoing, now: float) -> Receipt:
        envelope = message.envelope
        if envelope.dedup_key is not None:
            key = f"{message.queue}\x00{envelope.dedup_key}"
            db.execute("DELETE FROM dedup WHERE key = ? AND expires_at <= ?", (key, now))
            row = db.execute("SELECT message_id FROM dedup WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return Receipt(envelope.id, duplicate_of=row[0])
            db.execute(
                "INSERT INTO dedup (key, message_id, expires_at) VALUES (?, ?, ?)",
                (key, envelope.id, now + DEDUP_WINDOW),
            )
        cursor = db.execute(
            "INSERT INTO messages (id, queue, task, body, group_key, timeout, visible_at,"
            " enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                envelope.id,
                message.queue,
                envelope.task,
                message.body,
                envelope.group_key,
                message.timeout,
                now + message.delay,
                now,
            ),
        )
        return Receipt(envelope.id, backend_id=str(cursor.lastrowid))

    # --- receiving ---------------------------------------------------------------------------

    def receive(
        self,
        queues: Sequence[str],
        max_messages: int = 10,
        wait: float = 0.0,
        limits: Limits | None = None,
    ) -> list[Delivery]:
        """Lease up to ``max_messages`` due messages, oldest first, at most one per ordering
        group, within the concurrency and rate ``limits``; poll up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        pause = 0.01
        while True:
            leased = self._lease(queues, max_messages, limits)
            if leased or time.monotonic() >= deadline:
                return leased
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.25)

    def _lease(self, queues: Sequence[str], limit: int, limits: Limits | None) -> list[Delivery]:
        now = time.time()
        token = uuid.uuid4().hex  # one per lease: a message's seq and token name its lease
        marks = ",".join("?" * len(queues))
        eligible = (
            f"SELECT seq, task, timeout FROM messages m WHERE queue IN ({marks})"
            " AND visible_at <= ? AND (group_key IS NULL OR seq = (SELECT MIN(seq)"
            " FROM messages g WHERE g.queue = m.queue AND g.group_key = m.group_key))"
            " ORDER BY visible_at, seq LIMIT ?"
        )
        lease = (
            "UPDATE messages SET visible_at = ? + timeout, deliveries = deliveries + 1, token = ?"
            " WHERE seq IN ({}) RETURNING seq, id, queue, body, deliveries, visible_at"
        )
        with self.transaction() as db:
            if limits is None or not (limits.concurrency or limits.rate):
                sql = lease.format(eligible.replace("seq, task, timeout", "seq", 1))
                rows = db.execute(sql, (now + self.lease_grace, token, *queues, now, limit))
            else:
                candidates = db.execute(eligible, (*queues, now, limit * 4 + 16)).fetchall()
                chosen = self._admit(db, candidates, limit, limits, now)
                sql = lease.format(",".join("?" * len(chosen)))
                rows = db.execute(sql, (now + self.lease_grace, token, *chosen))
            leased = sorted(rows.fetchall())
        return [
            Delivery(body, count, queue, f"{seq}:{token}", {"id": key, "lease_until": repr(until)})
            for seq, key, queue, body, count, until in leased
        ]

    def _admit(
        self,
        db: sqlite3.Connection,
        candidates: list[tuple[int, str, float]],
        limit: int,
        limits: Limits | None,
        now: float,
    ) -> list[int]:
        assert limits is not None
        room: dict[str, int] = {}
        for task, cap in limits.concurrency.items():
            (running,) = db.execute(
                "SELECT COUNT(*) FROM messages WHERE task = ? AND token IS NOT NULL"
                " AND visible_at > ?",
                (task, now),
            ).fetchone()
            room[task] = cap - running
        for task, (count, per) in limits.rate.items():
            db.execute("DELETE FROM starts WHERE task = ? AND at <= ?", (task, now - per))
            (started,) = db.execute(
                "SELECT COUNT(*) FROM starts WHERE task = ?", (task,)
            ).fetchone()
            room[task] = min(room.get(task, count), count - started)
        chosen: list[int] = []
        for seq, task, _timeout in candidates:
            if len(chosen) == limit:
                break
            if task in room:
                if room[task] <= 0:
                    continue
                room[task] -= 1
                if task in limits.rate:
                    db.execute("INSERT INTO starts (task, at) VALUES (?, ?)", (task, now))
            chosen.append(seq)
        return chosen

    def settle(self, delivery: Delivery, outcome: Outcome) -> None:
        """Apply ``outcome`` to a leased message."""
        self.settle_many([(delivery, outcome)])

    def settle_many(
        self,
        settled: Sequence[tuple[Delivery, Outcome]],
        results: Sequence[TaskResult] = (),
    ) -> None:
        """Apply several outcomes and save results in one transaction. A delivery whose lease
        was lost (its token no longer matches) is left alone: someone else owns it now."""
        now = time.time()
        rows = [(r.id, r.status.value, r.to_json()) for r in results]
        acks: list[tuple[str, str]] = []
        retries: list[tuple[float, str, str]] = []
        dead: list[tuple[int, str, DeadLetter]] = []
        for delivery, outcome in settled:
            seq, token = delivery.backend_id.split(":")
            if isinstance(outcome, Ack):
                acks.append((seq, token))
            elif isinstance(outcome, RetryLater):
                retries.append((now + outcome.delay, seq, token))
            else:
                dead.append((int(seq), token, outcome))
        with self.transaction() as db:
            db.executemany(_SAVE_RESULT, rows)
            db.executemany("DELETE FROM messages WHERE seq = ? AND token = ?", acks)
            db.executemany(
                "UPDATE messages SET visible_at = ?, token = NULL WHERE seq = ? AND token = ?",
                retries,
            )
            for seq_number, token, letter in dead:
                self._move_to_dead_letters(db, seq_number, token, letter, now)

    def release(self, delivery: Delivery) -> None:
        """Give back a leased message that was never started, without counting the delivery."""
        seq, token = delivery.backend_id.split(":")
        with self.transaction() as db:
            db.execute(
                "UPDATE messages SET visible_at = ?, token = NULL, deliveries = deliveries - 1"
                " WHERE seq = ? AND token = ?",
                (time.time(), seq, token),
            )

    def _move_to_dead_letters(
        self, db: sqlite3.Connection, seq: int, token: str, outcome: DeadLetter, now: float
    ) -> None:
        row = db.execute(
            "DELETE FROM messages WHERE seq = ? AND token = ? RETURNING id, queue, task, body,"
            " deliveries, timeout",
            (seq, token),
        ).fetchone()
        if row is None:
            return
        message_id, queue, task, body, deliveries, timeout = row
        db.execute(
            "INSERT INTO dead_letters (id, queue, task, body, reason, deliveries, failed_at,"
            " cause, attempt, timeout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                queue,
                outcome.task or task,
                body,
                outcome.reason,
                deliveries,
                now,
                outcome.cause.value,
                outcome.attempt if outcome.attempt is not None else deliveries,
                timeout,
            ),
        )

    # --- inspection and dead letters ---------------------------------------------------------

    def pending(self, queues: Sequence[str] | None = None) -> int:
        """Messages still in the queues (due, delayed or leased)."""
        if not queues:
            return int(self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        marks = ",".join("?" * len(queues))
        sql = f"SELECT COUNT(*) FROM messages WHERE queue IN ({marks})"
        return int(self.db.execute(sql, tuple(queues)).fetchone()[0])

    def queue_stats(self, queues: Sequence[str]) -> list[QueueStat]:
        """Per queue: ready, leased, delayed and dead-lettered messages."""
        now = time.time()
        counts = {
            row[0]: row[1:]
            for row in self.db.execute(
                "SELECT queue, SUM(visible_at <= ?), SUM(token IS NOT NULL AND visible_at > ?),"
                " SUM(token IS NULL AND visible_at > ?) FROM messages GROUP BY queue",
                (now, now, now),
            )
        }
        dead = dict(
            self.db.execute("SELECT queue, COUNT(*) FROM dead_letters GROUP BY queue").fetchall()
        )
        stats = []
        for queue in queues:
            ready, leased, delayed = (int(n or 0) for n in counts.get(queue, (0, 0, 0)))
            stats.append(QueueStat(queue, ready, leased, delayed, int(dead.get(queue, 0))))
        return stats

    def knows(self, message_id: str) -> bool:
        """Whether ``message_id`` is queued, has a result or is a dead letter."""
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?)"
            " OR EXISTS (SELECT 1 FROM results WHERE id = ?)"
            " OR EXISTS (SELECT 1 FROM dead_letters WHERE id = ?)",
            (message_id, message_id, message_id),
        ).fetchone()
        return bool(row[0])

    def revoke(self, message_id: str, task: str) -> None:
        """Record ``message_id`` as revoked and delete it from its queue unless a worker holds
        it (a running task is not interrupted; its own result then replaces the mark)."""
        now = time.time()
        record = TaskResult(
            id=message_id,
            task=task,
            status=Status.REVOKED,
            reason="revoked",
            updated_at=datetime.fromtimestamp(now, UTC),
        )
        with self.transaction() as db:
            _save_result(db, record)
            db.execute(
                "DELETE FROM messages WHERE id = ? AND (token IS NULL OR visible_at <= ?)",
                (message_id, now),
            )

    def purge(self, queue: str) -> int:
        """Delete every message of ``queue`` that no worker holds; how many."""
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM messages WHERE queue = ? AND (token IS NULL OR visible_at <= ?)",
                (queue, now),
            )
            return cursor.rowcount
