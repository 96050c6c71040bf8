"""The local queue's statements: insert, lease, settle and release messages in ``messages``.

Each function runs inside the caller's write transaction. Every statement finds its rows
through an index (``tests/local/test_query_plans.py`` checks the plans on a deep file), so the
cost of a send or a lease does not grow with the messages waiting:

* ``messages_due (queue, visible_at) WHERE parked = 0``: what a lease reads, oldest due first.
  A delayed message sits further along the same index; a leased one too (its ``visible_at`` is
  the end of its lease, after which it is delivered again, as with an SQS visibility timeout).
* Ordering groups: only the head of a group (its oldest message) is unparked; the others wait
  *parked*, out of ``messages_due``, and the head's removal unparks the next one. So a group
  with a long backlog costs a lease nothing.
* ``messages_leased (task, visible_at) WHERE token IS NOT NULL``: live leases, for
  concurrency caps.

A lease writes a fresh token on its messages; settling needs that token, so a worker whose
lease ran out (and whose message someone else now holds) changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from dispatcher.backend import Ack, Cause, DeadLetter, Delivery, Outcome, RetryLater
from dispatcher.records import setattr_

_GROUP_BUSY = "SELECT EXISTS (SELECT 1 FROM messages WHERE queue = ? AND group_key = ?)"
_INSERT = (
    "INSERT INTO messages (id, queue, task, body, group_key, timeout, visible_at, enqueued_at,"
    " parked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DEDUP_FIND = "SELECT message_id, expires_at FROM dedup WHERE key = ?"
_DEDUP_KEEP = "INSERT OR REPLACE INTO dedup (key, message_id, expires_at) VALUES (?, ?, ?)"
_DEDUP_SWEEP = (
    "DELETE FROM dedup WHERE key IN"
    " (SELECT key FROM dedup WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)"
)
_LEASE = (
    "UPDATE messages SET visible_at = ? + timeout, deliveries = deliveries + 1, token = ?"
    " WHERE seq IN ({}) RETURNING seq, id, queue, task, body, deliveries, visible_at, timeout,"
    " group_key"
)
_ACK = "DELETE FROM messages WHERE seq = ? AND token = ?"
_RETRY = (
    "UPDATE messages SET visible_at = ?, token = NULL, deliveries = deliveries - ?"
    " WHERE seq = ? AND token = ?"
)
_REMOVE = (
    "DELETE FROM messages WHERE seq = ? AND token = ?"
    " RETURNING id, queue, task, body, deliveries, timeout, group_key"
)
_DEAD_LETTER = (
    "INSERT INTO dead_letters (id, queue, task, body, reason, deliveries, failed_at, cause,"
    " attempt, timeout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UNPARK_NEXT = (
    "UPDATE messages SET parked = 0 WHERE parked = 1 AND seq ="
    " (SELECT MIN(seq) FROM messages WHERE queue = ? AND group_key = ?)"
)
_NEXT_DUE = "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND parked = 0"

#: Retries that did not run the task: their delivery is not counted as an attempt.
_NOT_RUN = (Cause.NOT_DUE, Cause.BUSY, Cause.NO_TIME)
#: Expired dedup rows removed per send that carries a dedup key: more than one, so the
#: table shrinks back to the live window however the sends are spread.
DEDUP_SWEEP = 64


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A row to insert: the envelope's id and task, where, its body and when it is due."""

    id: str
    queue: str
    task: str
    body: bytes
    group_key: str | None
    timeout: float
    visible_at: float


class LocalDelivery(Delivery):
    """A leased message: the :class:`~dispatcher.backend.Delivery` and what settling it
    needs (``backend_id`` is ``"seq:token"``). ``lease_until`` is its new ``visible_at``."""

    LEASE = ("seq", "token", "message_id", "task", "lease_until", "timeout", "group_key")
    FIELDS = Delivery.FIELDS + LEASE
    __slots__ = LEASE
    seq: int
    token: str
    message_id: str
    task: str
    lease_until: float
    timeout: float
    group_key: str | None

    def __init__(
        self,
        body: bytes,
        receive_count: int = 1,
        queue: str = "",
        backend_id: str = "",
        meta: dict[str, str] | None = None,
        seq: int = 0,
        token: str = "",
        message_id: str = "",
        task: str = "?",
        lease_until: float = 0.0,
        timeout: float = 60.0,
        group_key: str | None = None,
    ) -> None:
        super().__init__(body, receive_count, queue, backend_id, meta)
        setattr_(self, "seq", seq)
        setattr_(self, "token", token)
        setattr_(self, "message_id", message_id)
        setattr_(self, "task", task)
        setattr_(self, "lease_until", lease_until)
        setattr_(self, "timeout", timeout)
        setattr_(self, "group_key", group_key)


def insert(db: sqlite3.Connection, message: NewMessage, now: float) -> int:
    """Insert ``message`` (parked behind its group's head, if the group has one); its seq."""
    parked = 0
    if message.group_key is not None:
        (parked,) = db.execute(_GROUP_BUSY, (message.queue, message.group_key)).fetchone()
    cursor = db.execute(
        _INSERT,
        (
            message.id,
            message.queue,
            message.task,
            message.body,
            message.group_key,
            message.timeout,
            message.visible_at,
            now,
            parked,
        ),
    )
    return int(cursor.lastrowid or 0)


def duplicate_of(
    db: sqlite3.Connection, key: str, message_id: str, now: float, window: float
) -> str | None:
    """The id of the message that holds dedup ``key`` within its window, else ``None`` after
    giving the key to ``message_id`` for ``window`` seconds."""
    row = db.execute(_DEDUP_FIND, (key,)).fetchone()
    if row is not None and row[1] > now:
        return str(row[0])
    db.execute(_DEDUP_KEEP, (key, message_id, now + window))
    return None


def sweep_dedup(db: sqlite3.Connection, now: float, limit: int = DEDUP_SWEEP) -> int:
    """Delete up to ``limit`` expired dedup keys, oldest first; how many."""
    return db.execute(_DEDUP_SWEEP, (now, limit)).rowcount


@cache
def candidates_sql(queues: int, excluded: int) -> str:
    """The query of due candidates (seq, visible_at, task), oldest first, over ``queues``
    queues and leaving out ``excluded`` tasks. Parameters: per queue ``queue, now,
    *excluded, limit``; then ``limit`` again when there are several queues.

    One arm per queue, each reading its own stretch of ``messages_due`` and stopping at its
    limit: a single ``queue IN (...)`` would sort every due message of those queues."""
    leave_out = f" AND task NOT IN ({', '.join('?' * excluded)})" if excluded else ""
    arm = (
        "SELECT seq, visible_at, task FROM messages WHERE queue = ? AND parked = 0"
        f" AND visible_at <= ?{leave_out} ORDER BY visible_at, seq LIMIT ?"
    )
    if queues == 1:
        return arm
    arms = " UNION ALL ".join(f"SELECT * FROM ({arm})" for _ in range(queues))
    return f"SELECT * FROM ({arms}) ORDER BY visible_at, seq LIMIT ?"


def candidate_params(
    queues: Sequence[str], now: float, excluded: Sequence[str], limit: int
) -> list[object]:
    """The parameters of :func:`candidates_sql` in order."""
    params: list[object] = []
    for queue in queues:
        params += [queue, now, *excluded, limit]
    if len(queues) > 1:
        params.append(limit)
    return params


@cache
def _lease_due_sql(queues: int) -> str:
    return _LEASE.format(f"SELECT seq FROM ({candidates_sql(queues, 0)})")


@cache
def _lease_chosen_sql(count: int) -> str:
    return _LEASE.format(", ".join("?" * count))


def lease_due(
    db: sqlite3.Connection,
    queues: Sequence[str],
    limit: int,
    now: float,
    lease_from: float,
    token: str,
) -> list[tuple[Any, ...]]:
    """Lease up to ``limit`` due messages of ``queues``, oldest first, until ``lease_from``
    plus each message's timeout; the raw rows (:func:`leased` makes them deliveries, after
    the transaction: the lock is held for SQLite's work only)."""
    sql = _lease_due_sql(len(queues))
    return db.execute(
        sql, [lease_from, token, *candidate_params(queues, now, (), limit)]
    ).fetchall()


def lease_chosen(
    db: sqlite3.Connection, seqs: Sequence[int], lease_from: float, token: str
) -> list[tuple[Any, ...]]:
    """Lease exactly the messages ``seqs`` (chosen by admission); the raw rows."""
    if not seqs:
        return []
    return db.execute(_lease_chosen_sql(len(seqs)), [lease_from, token, *seqs]).fetchall()


def leased(rows: Sequence[tuple[Any, ...]], token: str) -> list[LocalDelivery]:
    """The deliveries of rows leased with ``token``, oldest first."""
    found = [
        LocalDelivery(
            body,
            deliveries,
            queue,
            f"{seq}:{token}",
            {},
            seq,
            token,
            message_id,
            task,
            until,
            timeout,
            group_key,
        )
        for seq, message_id, queue, task, body, deliveries, until, timeout, group_key in rows
    ]
    found.sort(key=lambda delivery: delivery.seq)
    return found


Settled = tuple[LocalDelivery, Outcome]


@dataclass(slots=True)
class Settlement:
    """Outcomes sorted by what they do to their rows, ready to apply (built before the
    transaction, so that the lock is held for SQLite's work only)."""

    acks: list[tuple[int, str]]
    retries: list[tuple[float, int, int, str]]
    grouped: list[LocalDelivery]  # acked group messages: the next of the group is unparked
    dead: list[Settled]


def plan(settled: Sequence[Settled], now: float) -> Settlement:
    """Sort ``settled`` by what each outcome does."""
    planned = Settlement([], [], [], [])
    for delivery, outcome in settled:
        if isinstance(outcome, Ack):
            if delivery.group_key is None:
                planned.acks.append((delivery.seq, delivery.token))
            else:
                planned.grouped.append(delivery)
        elif isinstance(outcome, RetryLater):
            uncounted = 1 if outcome.cause in _NOT_RUN else 0
            planned.retries.append((now + outcome.delay, uncounted, delivery.seq, delivery.token))
        else:
            planned.dead.append((delivery, outcome))
    return planned


def settle(db: sqlite3.Connection, planned: Settlement, now: float) -> None:
    """Apply each outcome to its row; a row whose token no longer matches is left alone."""
    if planned.acks:
        db.executemany(_ACK, planned.acks)
    if planned.retries:
        db.executemany(_RETRY, planned.retries)
    for delivery in planned.grouped:
        acked = db.execute(_ACK, (delivery.seq, delivery.token)).rowcount
        if acked and delivery.group_key is not None:
            unpark_next(db, delivery.queue, delivery.group_key)
    for delivery, outcome in planned.dead:
        assert isinstance(outcome, DeadLetter)
        dead_letter(db, delivery.seq, delivery.token, outcome, now)


def dead_letter(
    db: sqlite3.Connection, seq: int, token: str, outcome: DeadLetter, now: float
) -> bool:
    """Move the leased row ``seq`` to ``dead_letters`` with the outcome's reason; False if
    the lease was lost meanwhile."""
    row = db.execute(_REMOVE, (seq, token)).fetchone()
    if row is None:
        return False
    message_id, queue, task, body, deliveries, timeout, group_key = row
    attempt = outcome.attempt if outcome.attempt is not None else deliveries
    db.execute(
        _DEAD_LETTER,
        (
            message_id,
            queue,
            outcome.task or task,
            body,
            outcome.reason,
            deliveries,
            now,
            outcome.cause.value,
            attempt,
            timeout,
        ),
    )
    if group_key is not None:
        unpark_next(db, queue, group_key)
    return True


def unpark_next(db: sqlite3.Connection, queue: str, group_key: str) -> None:
    """Let the next message of a group run, its head being gone."""
    db.execute(_UNPARK_NEXT, (queue, group_key))


def release(db: sqlite3.Connection, held: Sequence[tuple[int, str]], now: float) -> None:
    """Give back leased rows (seq, token) that were never started: visible now, the delivery
    not counted."""
    db.executemany(_RETRY, [(now, 1, seq, token) for seq, token in held])


def next_due(db: sqlite3.Connection, queues: Sequence[str]) -> float | None:
    """When the first message of ``queues`` is (or was) due, leased ones included (at the
    end of their lease); ``None`` when they hold nothing that can run."""
    times = [db.execute(_NEXT_DUE, (queue,)).fetchone()[0] for queue in queues]
    present = [float(t) for t in times if t is not None]
    return min(present) if present else None


__all__ = [
    "DEDUP_SWEEP",
    "LocalDelivery",
    "NewMessage",
    "Settled",
    "Settlement",
    "candidate_params",
    "candidates_sql",
    "dead_letter",
    "duplicate_of",
    "insert",
    "lease_chosen",
    "lease_due",
    "leased",
    "next_due",
    "plan",
    "release",
    "settle",
    "sweep_dedup",
    "unpark_next",
]
