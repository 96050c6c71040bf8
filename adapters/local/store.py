"""The embedded local backend: a durable queue, dead letters and results in one SQLite file.

:class:`LocalBackend` is the :class:`~dispatcher.backend.Backend` and the consumer the local
worker pulls from. The work is done in the rooms beside it: ``db`` (connections, schema),
``queue`` (insert, lease, settle), ``admission`` (concurrency and rate limits), ``results``,
``dead_letters``, ``doorbell`` (waking idle workers) and ``errors`` (SQLite's errors, typed).

A received message is *leased*: its ``visible_at`` moves to the end of the lease (its task's
timeout plus ``lease_grace``) and a fresh token is written; acking, retrying or dead-lettering
needs that token, and a worker killed mid-task simply lets the lease run out and the message is
delivered again (the model of SQS visibility timeouts).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.local import queue, results
from adapters.local.admission import Admission, Limits
from adapters.local.db import Database
from adapters.local.dead_letters import LocalDeadLetters
from adapters.local.doorbell import Doorbell
from adapters.local.errors import translated
from adapters.local.queue import LocalDelivery
from adapters.local.results import LocalResults
from dispatcher.backend import Delivery, Outcome, Outgoing, Receipt, SendFailure, TaskResult
from dispatcher.operations import QueueStat

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

#: How long a dedup key suppresses repeats, as on SQS FIFO queues.
DEDUP_WINDOW = 300.0
#: Seconds a lease outlives the task's timeout (time to record the outcome).
LEASE_GRACE = 30.0
#: The most messages :meth:`LocalBackend.waiting` counts (a burst's "N messages left").
WAITING_CAP = 10_000
#: Longest a waiting consumer goes without looking at the queue itself (the doorbell wakes
#: it at once for sends from this library; this catches any other writer).
POLL = 0.25

_COUNTS = (
    "SELECT queue, SUM(parked = 1 OR (parked = 0 AND visible_at <= ?)),"
    " SUM(token IS NOT NULL AND visible_at > ?),"
    " SUM(token IS NULL AND parked = 0 AND visible_at > ?) FROM messages GROUP BY queue"
)
_COUNT_UNPARKED = (
    "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE queue = ? AND parked = 0 LIMIT ?)"
)
_COUNT_PARKED = (
    "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE queue = ? AND group_key IS NOT NULL"
    " AND parked = 1 LIMIT ?)"
)
_FIND_BY_ID = (
    "SELECT seq, queue, group_key, parked FROM messages WHERE id = ?"
    " AND (token IS NULL OR visible_at <= ?)"
)
_REMOVE_SEQ = "DELETE FROM messages WHERE seq = ? AND (token IS NULL OR visible_at <= ?)"
_PURGE = (
    "DELETE FROM messages WHERE queue = ? AND (token IS NULL OR visible_at <= ?)"
    " RETURNING group_key, parked"
)


class LocalBackend:
    """The SQLite queue at ``path``. Implements :class:`~dispatcher.backend.Backend`,
    :class:`~dispatcher.backend.Consumer`, dead letters, queue counts, revoke and purge."""

    def __init__(
        self,
        path: str | Path,
        app: Dispatcher | None = None,
        *,
        lease_grace: float = LEASE_GRACE,
        dedup_window: float = DEDUP_WINDOW,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.app = app
        self.lease_grace = lease_grace
        self.dedup_window = dedup_window
        self.database = Database(self.path, busy_timeout=busy_timeout)
        self.doorbell = Doorbell(self.path)
        self.results = LocalResults(self.database)
        self.dead_letters = LocalDeadLetters(self)
        self.database.conn  # noqa: B018  (open and migrate now: a bad path fails here)

    def __repr__(self) -> str:
        return f"<LocalBackend {self.path}>"

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection."""
        return self.database.conn

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (see :meth:`Database.transaction`)."""
        return self.database.transaction()

    def close(self) -> None:
        self.database.close()
        self.doorbell.close()

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: Outgoing) -> Receipt:
        now = time.time()
        with translated(self.path, "send to", write=True), self.transaction() as db:
            receipt = self._insert(db, message, now)
            if message.envelope.dedup_key is not None:
                queue.sweep_dedup(db, now)
        self.doorbell.ring()
        return receipt

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        now = time.time()
        with translated(self.path, "send to", write=True), self.transaction() as db:
            receipts: list[Receipt | SendFailure] = [
                self._insert(db, message, now) for message in messages
            ]
            if any(message.envelope.dedup_key is not None for message in messages):
                queue.sweep_dedup(db, now)
        self.doorbell.ring()
        return receipts

    def send_raw(self, queue_name: str, body: bytes, task: str = "?", delay: float = 0.0) -> None:
        """Put bytes on a queue as they are, as a producer in another language would."""
        now = time.time()
        row = queue.NewMessage(uuid.uuid4().hex, queue_name, task, body, None, 60.0, now + delay)
        with translated(self.path, "send to", write=True), self.transaction() as db:
            queue.insert(db, row, now)
        self.doorbell.ring()

    def _insert(self, db: sqlite3.Connection, message: Outgoing, now: float) -> Receipt:
        envelope = message.envelope
        if envelope.dedup_key is not None:
            key = f"{message.queue}\x00{envelope.dedup_key}"
            earlier = queue.duplicate_of(db, key, envelope.id, now, self.dedup_window)
            if earlier is not None:
                return Receipt(envelope.id, duplicate_of=earlier)
        row = queue.NewMessage(
            envelope.id,
            message.queue,
            envelope.task,
            message.body,
            envelope.group_key,
            message.timeout,
            now + message.delay,
        )
        return Receipt(envelope.id, backend_id=str(queue.insert(db, row, now)))

    # --- receiving ---------------------------------------------------------------------------

    def receive(
        self,
        queues: Sequence[str],
        max_messages: int = 10,
        wait: float = 0.0,
        limits: Limits | None = None,
    ) -> list[LocalDelivery]:
        """Lease up to ``max_messages`` due messages, oldest first, at most one per ordering
        group, within the concurrency and rate ``limits``; wait up to ``wait`` seconds for
        one (woken by the doorbell, or when a delayed message falls due)."""
        deadline = time.monotonic() + wait
        pause = 0.005
        while True:
            leased = self.lease(queues, max_messages, limits)
            left = deadline - time.monotonic()
            if leased or left <= 0:
                return leased
            due = self.next_due(queues)
            if due is not None and due <= time.time():
                # Due, yet nothing leased (throttled): look again soon, backing off.
                self.doorbell.wait(min(pause, left))
                pause = min(pause * 2, POLL)
            else:
                until_due = POLL if due is None else due - time.time()
                self.doorbell.wait(max(0.0, min(left, until_due, POLL)))

    def lease(
        self, queues: Sequence[str], limit: int, limits: Limits | None = None
    ) -> list[LocalDelivery]:
        """Lease up to ``limit`` due messages now (no waiting)."""
        return self.settle_and_lease((), (), queues, limit, limits)

    def settle_and_lease(
        self,
        settled: Sequence[tuple[Delivery, Outcome]],
        saved: Sequence[TaskResult],
        queues: Sequence[str],
        limit: int,
        limits: Limits | None = None,
    ) -> list[LocalDelivery]:
        """Apply outcomes, save results and lease the next batch, in one transaction (a worker
        going from one batch to the next takes the lock once)."""
        now = time.time()
        rows = [results.row(result) for result in saved]
        planned = queue.plan([(_local(d), o) for d, o in settled], now)
        token = uuid.uuid4().hex  # one per lease: a message's seq and token name its lease
        with self.transaction() as db:
            results.save_rows(db, rows)
            queue.settle(db, planned, now)
            raw = self._lease_rows(db, queues, limit, limits, now, token) if limit else []
        return queue.leased(raw, token)

    def _lease_rows(
        self,
        db: sqlite3.Connection,
        queues: Sequence[str],
        limit: int,
        limits: Limits | None,
        now: float,
        token: str,
    ) -> list[tuple[Any, ...]]:
        lease_from = now + self.lease_grace
        if not limits:
            return queue.lease_due(db, queues, limit, now, lease_from, token)
        admission = Admission(db, limits, now)
        excluded = admission.excluded
        sql = queue.candidates_sql(len(queues), len(excluded))
        params = queue.candidate_params(queues, now, excluded, limit)
        candidates = [(seq, task) for seq, _due, task in db.execute(sql, params)]
        return queue.lease_chosen(db, admission.choose(candidates, limit), lease_from, token)

    def next_due(self, queues: Sequence[str]) -> float | None:
        """When the first message of ``queues`` is due (in the past when one is due now; a
        leased one counts at the end of its lease); ``None`` when they are empty."""
        return queue.next_due(self.db, queues)

    def settle(self, delivery: Delivery, outcome: Outcome) -> None:
        """Apply ``outcome`` to a leased message."""
        self.settle_many([(delivery, outcome)])

    def settle_many(
        self,
        settled: Sequence[tuple[Delivery, Outcome]],
        saved: Sequence[TaskResult] = (),
    ) -> None:
        """Apply several outcomes and save results in one transaction. A delivery whose lease
        was lost (its token no longer matches) is left alone: someone else owns it now."""
        self.settle_and_lease(settled, saved, (), 0)

    def release(self, delivery: Delivery) -> None:
        """Give back a leased message that was never started, without counting the delivery."""
        self.release_many([delivery])

    def release_many(self, deliveries: Sequence[Delivery]) -> None:
        """Give back leased messages that were never started, in one transaction."""
        if not deliveries:
            return
        held = [(local.seq, local.token) for local in map(_local, deliveries)]
        with self.transaction() as db:
            queue.release(db, held, time.time())
        self.doorbell.ring()

    def sweep(self) -> int:
        """Delete expired dedup keys (a few per send do it too); how many were deleted."""
        now = time.time()
        expired = self.db.execute(
            "SELECT 1 FROM dedup WHERE expires_at <= ? LIMIT 1", (now,)
        ).fetchone()
        if expired is None:
            return 0
        with self.transaction() as db:
            return queue.sweep_dedup(db, now, limit=10_000)

    # --- inspection and operations -----------------------------------------------------------

    def pending(self, queues: Sequence[str] | None = None) -> int:
        """Messages still in the queues (due, delayed, parked or leased)."""
        if not queues:
            return int(self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        marks = ",".join("?" * len(queues))
        sql = f"SELECT COUNT(*) FROM messages WHERE queue IN ({marks})"
        return int(self.db.execute(sql, tuple(queues)).fetchone()[0])

    def waiting(self, queues: Sequence[str], cap: int = WAITING_CAP) -> int:
        """Messages in ``queues``, counted through their indexes up to ``cap`` (what a burst
        reports it left; :meth:`pending` reads a deep queue whole)."""
        total = 0
        for name in queues:
            for sql in (_COUNT_UNPARKED, _COUNT_PARKED):
                total += int(self.db.execute(sql, (name, cap)).fetchone()[0])
        return min(total, cap)

    def queue_stats(self, queues: Sequence[str]) -> list[QueueStat]:
        """Per queue: ready (parked behind a group's head included), leased, delayed and
        dead-lettered messages."""
        now = time.time()
        counts = {row[0]: row[1:] for row in self.db.execute(_COUNTS, (now, now, now))}
        dead = dict(
            self.db.execute("SELECT queue, COUNT(*) FROM dead_letters GROUP BY queue").fetchall()
        )
        stats = []
        for name in queues:
            ready, leased, delayed = (int(n or 0) for n in counts.get(name, (0, 0, 0)))
            stats.append(QueueStat(name, ready, leased, delayed, int(dead.get(name, 0))))
        return stats

    def knows(self, message_id: str) -> bool:
        """Whether ``message_id`` is queued, has a result or is a dead letter. (Messages are
        not indexed by id, which would make every send slower: a deep queue is read whole.)"""
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM results WHERE id = ?)"
            " OR EXISTS (SELECT 1 FROM dead_letters WHERE id = ?)"
            " OR EXISTS (SELECT 1 FROM messages WHERE id = ?)",
            (message_id, message_id, message_id),
        ).fetchone()
        return bool(row[0])

    def revoke(self, message_id: str, task: str) -> None:
        """Record ``message_id`` as revoked and delete it from its queue unless a worker holds
        it (a running task is not interrupted; its own result then replaces the mark)."""
        now = time.time()
        record = TaskResult.revoked(message_id, task, datetime.fromtimestamp(now, UTC))
        with self.transaction() as db:
            results.save(db, [record])
            for seq, queue_name, group_key, parked in db.execute(
                _FIND_BY_ID, (message_id, now)
            ).fetchall():
                db.execute(_REMOVE_SEQ, (seq, now))
                if group_key is not None and not parked:
                    queue.unpark_next(db, queue_name, group_key)

    def purge(self, queue_name: str) -> int:
        """Delete every message of ``queue_name`` that no worker holds; how many."""
        now = time.time()
        with self.transaction() as db:
            removed = db.execute(_PURGE, (queue_name, now)).fetchall()
            for group_key in {key for key, parked in removed if key is not None and not parked}:
                queue.unpark_next(db, queue_name, group_key)
            return len(removed)


def _local(delivery: Delivery) -> LocalDelivery:
    """``delivery`` as leased here (one made elsewhere is read from its ``backend_id``)."""
    if isinstance(delivery, LocalDelivery):
        return delivery
    seq, _, token = delivery.backend_id.partition(":")
    return LocalDelivery(
        delivery.body, delivery.receive_count, delivery.queue, seq=int(seq), token=token
    )


__all__ = [
    "DEDUP_WINDOW",
    "LEASE_GRACE",
    "POLL",
    "WAITING_CAP",
    "Limits",
    "LocalBackend",
    "LocalDelivery",
]
