"""What every receiver of a batch shares: results held until the batch is settled, and running
a batch within the time its platform leaves it.

A receiver that runs several messages before it settles them (the local worker's lease, an SQS
event) records their results together with the settling, in one transaction or one batch write:
:class:`BufferedResults` holds the records meanwhile and answers claims from them.

A receiver whose platform stops it at a deadline (Lambda's function timeout, a request
timeout) passes a :class:`Deadline` to the executor, which starts a message only when the
task's timeout ends before the deadline less :data:`SETTLE_RESERVE` (the first message of an
invocation always starts; the others that do not fit are reported unstarted,
:attr:`~dispatcher.backend.Cause.NO_TIME`), and keeps its claim until the deadline, since its
result is held until then at the latest. A :class:`Watchdog` writes the held
results when the deadline comes near and the batch has not ended (a task stuck where its own
time limit cannot interrupt it), so that a kill loses none of the results already done.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from dispatcher.backend import Claim, Granted, ResultStore, TaskResult

#: Seconds an invocation keeps at its end to write its results and settle its messages (a
#: few AWS calls, retries included). A deployment must give a full batch its tasks'
#: timeouts plus this: :func:`batch_seconds`.
SETTLE_RESERVE = 2.0


def batch_seconds(task_timeouts: Sequence[float], batch_size: int) -> float:
    """The invocation time a full batch of ``batch_size`` messages needs when each may take
    the longest of ``task_timeouts``: what a function timeout must be at least for the
    :class:`Deadline` rule to start every message of a full batch."""
    return batch_size * max(task_timeouts) + SETTLE_RESERVE


class Deadline:
    """When the platform will stop the invocation. ``remaining`` answers the seconds left
    (Lambda: ``context.get_remaining_time_in_millis() / 1000``); it is asked each time, so
    a clock that runs down (the platform's, or a test's) is followed as it is."""

    def __init__(self, remaining: Callable[[], float], *, reserve: float = SETTLE_RESERVE) -> None:
        self.remaining, self.reserve = remaining, reserve

    def left(self) -> float:
        """Seconds until the invocation is stopped."""
        return max(0.0, self.remaining())

    def allows(self, seconds: float) -> bool:
        """Whether something that may take ``seconds`` ends before the settling reserve."""
        return self.left() - self.reserve >= seconds

    def first(self) -> Deadline:
        """The same deadline for an invocation's first message, which starts whatever its
        timeout: a function whose timeout leaves no reserve past a task's timeout (or is
        shorter) still runs that task, one per invocation, instead of never."""
        return Deadline(self.remaining, reserve=-math.inf)


class FinishedLookup(Protocol):
    """A store that can tell at once which of many invocations are final."""

    def finished(self, task_ids: Sequence[str]) -> set[str]:
        """The final ones among ``task_ids``."""
        ...


class BufferedResults:
    """A :class:`~dispatcher.backend.ResultStore` over ``inner`` whose saves wait for
    :meth:`take`. Claims of an invocation finished in this batch answer ``DONE`` without a
    round trip; :meth:`expect` answers a whole batch's claims with one lookup. Thread-safe,
    so that a :class:`Watchdog` may take results while the batch runs."""

    def __init__(self, inner: ResultStore) -> None:
        self.inner = inner
        self._buffer: dict[str, TaskResult] = {}
        self._known: dict[str, bool] = {}
        self._lock = threading.Lock()

    def get(self, task_id: str) -> TaskResult | None:
        """The held record, else the stored one."""
        return self._buffer.get(task_id) or self.inner.get(task_id)

    def save(self, result: TaskResult) -> None:
        """Hold ``result`` until :meth:`take`."""
        with self._lock:
            self._buffer[result.id] = result

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim | Granted:
        """``DONE`` for an invocation finished in this batch, or known final by
        :meth:`expect`; else the inner store decides."""
        held = self._buffer.get(task_id)
        if held is not None and held.status.final:
            return Claim.DONE
        known = self._known.pop(task_id, None)
        if known is not None:
            return Claim.DONE if known else Claim.GRANTED
        return self.inner.claim(task_id, task, attempt, lease)

    def forget(self, task_id: str) -> None:
        """Drop the held record and the stored one."""
        self.drop(task_id)
        self.inner.forget(task_id)

    def expect(self, lookup: FinishedLookup, task_ids: Sequence[str]) -> None:
        """Learn in one query which of a batch's invocations already finished. Only for a
        store whose claims need no write of their own (the local lease is the claim)."""
        finished = lookup.finished(task_ids) if task_ids else set()
        self._known = {task_id: task_id in finished for task_id in task_ids}

    def take(self, only: Callable[[TaskResult], bool] | None = None) -> list[TaskResult]:
        """The held records (those ``only`` accepts, when given), no longer held."""
        with self._lock:
            if only is None:
                taken, self._buffer = list(self._buffer.values()), {}
                return taken
            taken = [r for r in self._buffer.values() if only(r)]
            for result in taken:
                del self._buffer[result.id]
            return taken

    def drop(self, task_id: str) -> TaskResult | None:
        """Stop holding the record of ``task_id`` without writing it; the record, if any."""
        with self._lock:
            return self._buffer.pop(task_id, None)

    def discard(self) -> None:
        """Forget the held records (their messages will be delivered again)."""
        with self._lock:
            self._buffer.clear()


class Watchdog:
    """Calls ``action`` once if a watched batch is still running when its deadline comes
    within half the settling reserve; one daemon thread, started on first use, serves every
    batch in turn. ``action`` must be safe to run beside the batch (it takes only what is
    done: :meth:`BufferedResults.take`). Watching costs a lock, and a wake-up of the thread
    only when a deadline comes sooner than the one it sleeps towards."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self._due = math.inf
        self._wakes_at = math.inf
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watching(self, deadline: Deadline | None) -> _Watch:
        """A context manager: watch the batch run in its block; on leaving, wait for an
        action under way. (A class, not ``contextlib.contextmanager``: this is on the cold
        path of a handler, and contextlib need not be.)"""
        return _Watch(self, deadline)

    def _arm(self, deadline: Deadline) -> None:
        with self._changed:
            self._due = time.monotonic() + deadline.left() - deadline.reserve / 2
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="dispatcher-watchdog", daemon=True
                )
                self._thread.start()
            elif self._due < self._wakes_at:
                self._changed.notify()

    def _disarm(self) -> None:
        with self._changed:
            self._due = math.inf  # the thread finds nothing due when it wakes
            while self._busy:
                self._changed.wait()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while (wait := self._due - time.monotonic()) > 0:
                    self._wakes_at = self._due
                    self._changed.wait(None if wait == math.inf else wait)
                self._due = self._wakes_at = math.inf
                self._busy = True
            try:
                self.action()
            except Exception:  # the batch's own settling reports what could not be written
                pass
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()


class _Watch:
    """The block :meth:`Watchdog.watching` watches."""

    def __init__(self, watchdog: Watchdog, deadline: Deadline | None) -> None:
        self.watchdog, self.deadline = watchdog, deadline

    def __enter__(self) -> None:
        if self.deadline is not None:
            self.watchdog._arm(self.deadline)

    def __exit__(self, *exc: object) -> None:
        if self.deadline is not None:
            self.watchdog._disarm()


__all__ = [
    "SETTLE_RESERVE",
    "BufferedResults",
    "Deadline",
    "FinishedLookup",
    "Watchdog",
    "batch_seconds",
]
