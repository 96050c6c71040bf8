"""A worker for the local backend: the loop that runs in one process (``pool.py`` runs several).

A worker leases a small batch, runs each message through the execution core, and settles
outcomes and results together in one transaction (every ``flush_after`` seconds at the
latest). Idle, it sleeps until the doorbell rings (a send), a delayed message falls due or a
periodic task's slot comes. Stopping is graceful: the message being run finishes and is
settled, the leased but unstarted ones go back to the queue at once.

Nothing a message carries can stop it: an exception escaping the execution core, or a result
SQLite cannot store, dead-letters that message with the reason. Nothing the machine does can
either: when the file cannot be written (a full disk), it reports the trouble, keeps what it
has not recorded, and tries again until it can.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.local.admission import Limits
from adapters.local.errors import environmental, explain
from adapters.local.events import Event, Ran, Trouble, WorkerStats
from adapters.local.store import POLL, LocalBackend, LocalDelivery
from dispatcher.backend import (
    Cause,
    DeadLetter,
    Delivery,
    Outcome,
    ResultStore,
    RetryLater,
    Status,
    TaskResult,
)
from dispatcher.beat import Beat
from dispatcher.execution import Executor
from dispatcher.receiving import BufferedResults

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

OnOutcome = Callable[[Delivery, Outcome], None]
OnEvents = Callable[[list[Event]], None]
#: Builds the execution core over a result store (the worker's, which holds records until
#: their batch is settled).
MakeExecutor = Callable[["Dispatcher", ResultStore], Executor]

#: With ``burst``, messages due within this many seconds are waited for (retries with a short
#: backoff, the lease of a killed worker running out); later ones are left for another run.
BURST_HORIZON = 10.0
#: Longest wait between two attempts to write to a file that refused (a full disk).
TROUBLE_BACKOFF = 2.0
#: How often an idle worker deletes expired dedup keys.
SWEEP_EVERY = 30.0
#: Longest reason text stored for a message the worker itself had to dead-letter.
_REASON_LIMIT = 2_000
_SQLITE_INT = (-(2**63), 2**63 - 1)

Settled = list[tuple[LocalDelivery, Outcome, float]]


class Worker:
    """Runs messages of ``app`` from a :class:`LocalBackend` in the calling thread.

    ``on_outcome(delivery, outcome)`` is called for each message once its outcome is
    recorded; ``on_events(events)`` once per recorded batch (one :class:`Ran` per message),
    and with each :class:`Trouble` survived.
    """

    def __init__(
        self,
        app: Dispatcher,
        backend: LocalBackend | None = None,
        *,
        queues: Sequence[str] | None = None,
        prefetch: int = 500,
        flush_after: float = 0.05,
        on_outcome: OnOutcome | None = None,
        on_events: OnEvents | None = None,
        make_executor: MakeExecutor = Executor,
    ) -> None:
        resolved = backend or app.backend
        if not isinstance(resolved, LocalBackend):
            raise TypeError(f"the local worker needs the local backend, not {resolved!r}")
        self.app, self.backend = app, resolved
        self.queues = list(queues or app.queues)
        self.prefetch, self.flush_after = prefetch, flush_after
        self.on_outcome, self.on_events = on_outcome, on_events
        self.results = BufferedResults(resolved.results)
        self.executor = make_executor(app, self.results)
        self.limits = Limits(
            concurrency={
                n: t.options.concurrency for n, t in app.tasks.items() if t.options.concurrency
            },
            rate={
                n: (t.options.rate_limit.count, t.options.rate_limit.per)
                for n, t in app.tasks.items()
                if t.options.rate_limit
            },
        )
        self.stats = WorkerStats()
        self.stopping = threading.Event()
        self.beat = Beat(app, self.queues)
        self._pace = 0.0  # seconds one message takes, a moving average
        self._pause = 0.005  # the wait when messages are due but none could be leased
        self._backoff = 0.1  # the wait after a trouble, doubling
        self._swept_at = time.monotonic()
        self._pid = os.getpid()
        self._next: list[LocalDelivery] = []  # leased with the last outcomes, to run next

    # --- the loop ----------------------------------------------------------------------------

    def run(
        self, *, burst: bool = False, horizon: float = BURST_HORIZON, idle_wait: float = POLL
    ) -> WorkerStats:
        """Work until :meth:`stop`; with ``burst``, until nothing in the queues is due within
        ``horizon`` seconds (what is left is counted in the stats). Outside ``burst``,
        periodic tasks are sent when they fall due."""
        while not self.stopping.is_set():
            if not burst:
                self.beat.tick()
            if self.step():
                continue
            if self._idle(burst, horizon, idle_wait):
                break
        if self._next:  # leased with the last batch's outcomes, never started
            self._release(self._next)
            self._next = []
        return self.stats

    def stop(self) -> None:
        """Finish the message being run, hand back the rest, and return from :meth:`run`."""
        self.stopping.set()

    def step(self, wait: float = 0.0, limit: int | None = None) -> int:
        """Lease one batch (of ``limit``, else as many as run in ``flush_after``), waiting up
        to ``wait`` seconds for one, and run it; return how many messages were run."""
        deliveries, self._next = self._next, []
        if not deliveries:
            try:
                deliveries = self.backend.lease(
                    self.queues, limit or self._batch_size(), self.limits
                )
            except Exception as error:
                self._survive(error, "leasing messages")
                return 0
            self._backoff = 0.1
            if not deliveries:
                return 0
        try:
            self.results.expect(self.backend.results, [d.message_id for d in deliveries])
        except Exception as error:
            self._survive(error, "reading results")
            self._release(deliveries)
            return 0
        settled: Settled = []
        earliest = math.inf  # when the first lease of the settled, unrecorded ones runs out
        margin = self.backend.lease_grace / 2  # time to record an outcome
        flushed_at = time.monotonic()
        for index, delivery in enumerate(deliveries):
            until, timeout, now = delivery.lease_until, delivery.timeout, time.time()
            # A later message of a batch starts only if its lease outlasts its timeout:
            # otherwise it could be leased again while it runs. (The first one was leased a
            # moment ago, for its timeout and the grace.)
            if self.stopping.is_set() or (index and until - now < timeout + margin):
                self._release(deliveries[index:])
                break
            if earliest < now + timeout + margin:  # it could outlive the leases of those done
                self._flush(settled)
                flushed_at, earliest = time.monotonic(), math.inf
            started = time.monotonic()
            outcome = self._process(delivery)
            finished = time.monotonic()
            self._pace = 0.8 * self._pace + 0.2 * (finished - started)
            settled.append((delivery, outcome, finished - started))
            earliest = min(earliest, until)
            if finished - flushed_at > self.flush_after:
                self._flush(settled)
                flushed_at, earliest = time.monotonic(), math.inf
        ran = len(settled)
        size = 0 if self.stopping.is_set() else limit or self._batch_size()
        self._next = self._flush(settled, lease=size)  # the next batch, in the same transaction
        if len(self._next) == size > 1:
            self.backend.doorbell.ring()  # a full batch: there may be more; wake a peer
        return ran

    def _batch_size(self) -> int:
        # Lease about as many messages as run in `flush_after` seconds (at most `prefetch`):
        # fast tasks share a transaction, slow ones are not held back from other workers.
        if self._pace <= 0:
            return 1
        return max(1, min(self.prefetch, int(self.flush_after / self._pace)))

    def _idle(self, burst: bool, horizon: float, idle_wait: float) -> bool:
        """Wait for work; True when a burst is over."""
        try:
            due = self.backend.next_due(self.queues)
        except Exception as error:
            self._survive(error, "looking at the queues")
            return False
        now = time.time()
        if burst and (due is None or due > now + horizon):
            self.stats.left = self.backend.waiting(self.queues)
            self.stats.next_due = due
            return True
        if due is not None and due <= now:
            # Due, yet nothing was leased (throttled by a limit): look again soon.
            wait = self._pause
            self._pause = min(self._pause * 2, idle_wait)
        else:
            self._pause = 0.005
            wait = idle_wait if due is None else min(idle_wait, due - now)
            if not burst and self.beat.due:
                slot = min(self.beat.due.values()).timestamp()
                wait = min(wait, max(0.0, slot - now))
        self._sweep()
        self.backend.doorbell.wait(wait)
        return False

    def _sweep(self) -> None:
        if time.monotonic() - self._swept_at < SWEEP_EVERY:
            return
        self._swept_at = time.monotonic()
        try:
            self.backend.sweep()
        except Exception as error:
            self._survive(error, "deleting expired dedup keys")

    # --- one message -------------------------------------------------------------------------

    def _process(self, delivery: LocalDelivery) -> Outcome:
        try:
            return self.executor.process(delivery)
        except Exception as error:
            # The execution core returns an outcome for every message; this is the net below
            # it. Such a message would fail the same way on every delivery: dead-letter it.
            reason = _describe("the worker could not process this message", error)
            self.results.save(_failed(delivery, reason))
            return DeadLetter(
                reason,
                task=delivery.task,
                cause=Cause.MALFORMED,
                attempt=delivery.receive_count,
            )

    # --- settling ----------------------------------------------------------------------------

    def _flush(self, settled: Settled, lease: int = 0) -> list[LocalDelivery]:
        """Record the outcomes of ``settled`` (and lease up to ``lease`` more in the same
        transaction); the new leases."""
        if not settled:
            return []
        saved = self.results.take()
        pairs = [(delivery, outcome) for delivery, outcome, _ in settled]
        leased: list[LocalDelivery] = []
        while True:
            try:
                leased = self.backend.settle_and_lease(
                    pairs, saved, self.queues, lease, self.limits
                )
                self._backoff = 0.1
                break
            except Exception as error:
                if not environmental(error):
                    settled[:] = self._settle_apart(settled, saved)
                    break
                if self.stopping.is_set():
                    self._trouble(
                        error,
                        "stopping without recording the outcomes of "
                        f"{len(pairs)} message(s); they run again once their leases run out",
                    )
                    settled.clear()
                    return []
                self._survive(error, "recording outcomes")
        self._report(settled)
        settled.clear()
        return leased

    def _settle_apart(self, settled: Settled, saved: list[TaskResult]) -> Settled:
        """Settle one message at a time after a batch failed on one of them: a message whose
        outcome or result cannot be stored is dead-lettered with the reason."""
        records = {record.id: record for record in saved}
        done: Settled = []
        for delivery, outcome, seconds in settled:
            own = records.pop(delivery.message_id, None)
            try:
                self.backend.settle_many([(delivery, outcome)], [own] if own else [])
                done.append((delivery, outcome, seconds))
                continue
            except Exception as error:
                if environmental(error):
                    self._trouble(error, "its message runs again once its lease runs out")
                    continue
                reason = _describe("its outcome could not be recorded", error)
            letter = DeadLetter(
                reason,
                task=delivery.task,
                cause=Cause.MALFORMED,
                attempt=delivery.receive_count,
            )
            try:
                self.backend.settle_many([(delivery, letter)], [_failed(delivery, reason, own)])
                done.append((delivery, letter, seconds))
            except Exception as error:  # not even that: it is delivered again after its lease
                self._trouble(error, "its message runs again once its lease runs out")
        for record in records.values():  # records of messages not leased as themselves
            try:
                self.backend.results.save(record)
            except Exception as error:
                self._trouble(error, f"the result of {record.id} is not recorded")
        return done

    def _release(self, deliveries: Sequence[LocalDelivery]) -> None:
        try:
            self.backend.release_many(deliveries)
        except Exception as error:
            self._trouble(error, "the messages return once their leases run out")

    def _report(self, settled: Settled) -> None:
        events: list[Event] = []
        for delivery, outcome, seconds in settled:
            self.stats.outcomes[outcome.kind] += 1
            if self.on_outcome is not None:
                self.on_outcome(delivery, outcome)
            if self.on_events is not None:
                events.append(self._ran(delivery, outcome, seconds))
        if events and self.on_events is not None:
            self.on_events(events)

    def _ran(self, delivery: LocalDelivery, outcome: Outcome, seconds: float) -> Ran:
        cause = getattr(outcome, "cause", None)
        return Ran(
            task=delivery.task,
            id=delivery.message_id,
            outcome=outcome.kind,
            seconds=seconds,
            delivery=delivery.receive_count,
            queue=delivery.queue,
            cause=None if cause is None else str(cause.value),
            reason=getattr(outcome, "reason", None),
            delay=outcome.delay if isinstance(outcome, RetryLater) else None,
            worker=self._pid,
        )

    # --- troubles ----------------------------------------------------------------------------

    def _survive(self, error: Exception, doing: str) -> None:
        """Report an error of the machine met while ``doing``, then wait before going on.
        Anything else is a bug and is raised."""
        if not environmental(error):
            raise error
        wait = self._backoff
        self._backoff = min(self._backoff * 2, TROUBLE_BACKOFF)
        self._trouble(error, f"{doing}: trying again in {wait:.1f} s")
        self.stopping.wait(wait)

    def _trouble(self, error: BaseException, action: str) -> None:
        self.stats.troubles += 1
        if self.on_events is not None:
            problem = _storable(explain(error, self.backend.path)) or ""
            self.on_events([Trouble(problem[:_REASON_LIMIT], action, self._pid)])


def _describe(what: str, error: BaseException) -> str:
    """``what: Type: message``, storable whatever the message holds (lone surrogates are
    escaped) and bounded in length."""
    try:
        text = f"{type(error).__name__}: {error}"
    except Exception:  # str() of an exception can itself raise
        text = type(error).__name__
    if what:
        text = f"{what}: {text}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:_REASON_LIMIT]


def _storable(text: str | None) -> str | None:
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _failed(delivery: LocalDelivery, reason: str, record: TaskResult | None = None) -> TaskResult:
    """The FAILED record of a message the worker itself dead-lettered, with only what SQLite
    can store of the record it replaces."""
    attempt = record.attempt if record is not None else delivery.receive_count
    if not isinstance(attempt, int) or not _SQLITE_INT[0] <= attempt <= _SQLITE_INT[1]:
        attempt = delivery.receive_count
    return TaskResult(
        id=delivery.message_id,
        task=_storable(record.task if record else None) or delivery.task,
        status=Status.FAILED,
        error_type=_storable(record.error_type) if record else None,
        error_message=_storable(record.error_message) if record else None,
        reason=reason,
        attempt=attempt,
        root_id=_storable(record.root_id) if record else None,
        updated_at=datetime.now(UTC),
    )


__all__ = ["BURST_HORIZON", "MakeExecutor", "OnEvents", "OnOutcome", "Worker", "WorkerStats"]
