"""Backends for tests: no disk, no network, no threads.

``Dispatcher("shop", backend="memory")`` gives an :class:`InMemoryBackend`; ``drain()`` runs
everything that was sent (and everything those tasks send) through the real execution core.
:class:`CallableBackend` hands each message to a function, like ``httpx.MockTransport``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dispatcher import dead_letters
from dispatcher.backend import (
    Ack,
    Claim,
    DeadLetter,
    Delivery,
    Outgoing,
    Receipt,
    RetryLater,
    SendFailure,
    TaskResult,
)
from dispatcher.operations import DeadLetterEntry, QueueStat
from dispatcher.plugins import Plugin

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher


class MemoryResults:
    """A result store in a dict; ``claim`` follows the same rules as the real stores."""

    def __init__(self) -> None:
        self.records: dict[str, TaskResult] = {}
        self._claims: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, task_id: str) -> TaskResult | None:
        return self.records.get(task_id)

    def save(self, result: TaskResult) -> None:
        with self._lock:
            self.records[result.id] = result
            self._claims.pop(result.id, None)

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        with self._lock:
            record = self.records.get(task_id)
            if record is not None and record.status.final:
                return Claim.DONE
            if self._claims.get(task_id, 0.0) > time.time():
                return Claim.BUSY
            self._claims[task_id] = time.time() + lease
            return Claim.GRANTED

    def forget(self, task_id: str) -> None:
        with self._lock:
            self.records.pop(task_id, None)
            self._claims.pop(task_id, None)


class CallableBackend:
    """Calls ``handler(message)`` for every message sent; the handler may return a Receipt."""

    def __init__(self, handler: Callable[[Outgoing], Receipt | None]) -> None:
        self.handler = handler
        self.results = MemoryResults()

    def send(self, message: Outgoing) -> Receipt:
        return self.handler(message) or Receipt(message.envelope.id)

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        return [self.send(message) for message in messages]

    def close(self) -> None:
        return None


class InMemoryBackend:
    """Keeps sent messages in memory; :meth:`drain` runs them with the real executor.

    ``drain`` runs on a virtual clock: it takes messages in the order they fall due and moves
    its clock forward to each one's due time, so countdowns, retry backoff and expiry behave
    as they would, without waiting. ``dead_letters`` keeps what was dead-lettered, with the
    reason (the same operations as every backend's); ``sent`` every message ever sent.
    """

    def __init__(self, app: Dispatcher) -> None:
        self.app = app
        self.results = MemoryResults()
        self.sent: list[Outgoing] = []
        self.dead_letters = MemoryDeadLetters(self)
        self.now = time.time()
        self._due: list[tuple[float, int, Outgoing, int]] = []
        self._order = itertools.count()

    def send(self, message: Outgoing) -> Receipt:
        self.sent.append(message)
        self._push(message, self.now + message.delay, 1)
        return Receipt(message.envelope.id)

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        return [self.send(message) for message in messages]

    def close(self) -> None:
        return None

    def knows(self, message_id: str) -> bool:
        """Whether ``message_id`` was ever sent here."""
        return any(m.envelope.id == message_id for m in self.sent)

    def revoke(self, message_id: str, task: str) -> None:
        """Record it revoked and drop it from the queue."""
        self.results.save(
            TaskResult.revoked(message_id, task, datetime.fromtimestamp(self.now, UTC))
        )
        self._due = [item for item in self._due if item[2].envelope.id != message_id]
        heapq.heapify(self._due)

    def purge(self, queue: str) -> int:
        """Drop every message of ``queue``."""
        kept = [item for item in self._due if item[2].queue != queue]
        removed, self._due = len(self._due) - len(kept), kept
        heapq.heapify(self._due)
        return removed

    def queue_stats(self, queues: Sequence[str]) -> list[QueueStat]:
        """Due and delayed messages per queue, by the virtual clock."""
        stats = []
        for queue in queues:
            due = [d for d, _, m, _ in self._due if m.queue == queue]
            stats.append(
                QueueStat(
                    queue=queue,
                    depth=sum(1 for d in due if d <= self.now),
                    in_flight=0,
                    delayed=sum(1 for d in due if d > self.now),
                    dead_letters=len(self.dead_letters.entries([queue])),
                )
            )
        return stats

    def _push(self, message: Outgoing, due: float, count: int) -> None:
        heapq.heappush(self._due, (due, next(self._order), message, count))

    def drain(self, max_runs: int = 10_000) -> int:
        """Run messages until none is left; return how many runs were made."""
        from dispatcher.execution import Executor

        executor = Executor(self.app, self.results, clock=lambda: self.now)
        runs = 0
        while self._due and runs < max_runs:
            due, _, message, count = heapq.heappop(self._due)
            self.now = max(self.now, due)
            outcome = executor.process(Delivery(message.body, count, message.queue))
            runs += 1
            if isinstance(outcome, RetryLater):
                self._push(message, self.now + outcome.delay, count + 1)
            elif isinstance(outcome, DeadLetter):
                self.dead_letters.add(message, outcome, self.now)
            else:
                assert isinstance(outcome, Ack)
        return runs


class MemoryDeadLetters:
    """The in-memory backend's dead letters (:class:`~dispatcher.backend.DeadLetters`)."""

    def __init__(self, backend: InMemoryBackend) -> None:
        self.backend = backend
        self._letters: dict[str, tuple[Outgoing, DeadLetterEntry]] = {}

    def add(self, message: Outgoing, outcome: DeadLetter, now: float) -> None:
        """Keep a dead-lettered message with its reason."""
        found = dead_letters.entry(
            message.body,
            queue=message.queue,
            reason=outcome.reason,
            backend_id=message.envelope.id,
            cause=outcome.cause,
            attempt=outcome.attempt,
            died_at=datetime.fromtimestamp(now, UTC),
            task=outcome.task,
        )
        self._letters[found.id] = (message, found)

    def entries(self, queues: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        return [e for _, e in self._letters.values() if queues is None or e.queue in queues]

    def show(self, message_id: str) -> DeadLetterEntry:
        [found] = dead_letters.choose(self.entries(), [message_id])
        return found

    def replay(self, message_ids: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        chosen = dead_letters.choose(self.entries(), message_ids)
        for letter in chosen:
            message, _ = self._letters[letter.id]
            body = dead_letters.replay_body(letter.body)
            envelope = dead_letters.envelope_of(body) or message.envelope
            self.backend.results.forget(letter.id)
            self.backend.send(message.copy_with(envelope=envelope, body=body, delay=0.0))
            del self._letters[letter.id]
        return chosen

    def purge(self, message_ids: Sequence[str] | None = None) -> int:
        chosen = dead_letters.choose(self.entries(), message_ids)
        for letter in chosen:
            del self._letters[letter.id]
        return len(chosen)


def from_spec(spec: str, app: Dispatcher) -> InMemoryBackend:
    """``memory``: an :class:`InMemoryBackend` for ``app``."""
    return InMemoryBackend(app)


PLUGIN = Plugin(
    name="memory",
    description="in memory, for tests: drain() runs what was sent on a virtual clock",
    schemes=("memory",),
    backend="dispatcher.testing:from_spec",
)

__all__ = ["PLUGIN", "CallableBackend", "InMemoryBackend", "MemoryDeadLetters", "MemoryResults"]
