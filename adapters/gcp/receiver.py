"""The receiving side: one Cloud Tasks push in, one HTTP answer out.

Each push (already authenticated by :mod:`adapters.gcp.auth`) is run through the execution
core, and the outcome is answered by status (https://cloud.google.com/tasks/docs/
creating-http-target-tasks: a 2xx answer completes the task, anything else retries it):

* Ack: 200 (a claim-checked body's object is deleted).
* DeadLetter (bad input included: not an envelope, an unknown task, a missing or foreign
  claim check): written to the app's dead letters with its reason, then 200, so that Cloud
  Tasks stops (it has no dead-letter queue of its own).
* RetryLater: Cloud Tasks retries on the queue's schedule (min_backoff doubled
  max_doublings times, then linear, capped at max_backoff, at most max_attempts times;
  https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#RetryConfig).
  Where that schedule gives the task's own backoff, the answer is 503 with ``Retry-After``
  and Cloud Tasks retries; where it differs (a task's own ``Retry``, jitter, the queue's last
  attempt, or the emulator, which retries at once), the receiver re-creates the task with the
  right ``schedule_time`` and answers 200. An eta beyond the 30-day horizon arrives early and
  is re-created with the time left (a hop).

Delivery counts come from ``X-CloudTasks-TaskRetryCount`` (retries before this one, 5xx
answers included; the ExecutionCount header leaves those out), read case-insensitively,
plus ``X-Dispatcher-Attempts-Before`` on a re-created task.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from adapters.gcp.payloads import HEADER as CLAIM_CHECK_HEADER
from adapters.gcp.payloads import ClaimCheckError, Pointer
from adapters.gcp.producer import ATTEMPTS_HEADER, MAX_SCHEDULE, derived_task_id
from dispatcher.backend import Ack, Cause, DeadLetter, Delivery, Outcome, ResultStore, RetryLater
from dispatcher.envelope import Envelope, decode
from dispatcher.errors import InvalidMessage
from dispatcher.execution import Executor

if TYPE_CHECKING:
    from adapters.gcp.producer import GcpBackend
    from dispatcher.app import Dispatcher

log = logging.getLogger("dispatcher.gcp")

RETRY_COUNT_HEADER = "x-cloudtasks-taskretrycount"
QUEUE_HEADER = "x-cloudtasks-queuename"
TASK_NAME_HEADER = "x-cloudtasks-taskname"
SCHEDULE_TIME_HEADER = "x-cloudscheduler-scheduletime"
#: The queue of a push that names none.
UNKNOWN_QUEUE = "unknown"
#: How far Cloud Tasks' next retry may be from the task's own (seconds, or a tenth of the
#: delay) for the receiver to let Cloud Tasks retry rather than re-create the task.
NATIVE_SLACK = 0.25
#: How long a queue's retry settings are trusted before they are read again.
RETRY_CONFIG_TTL = 300.0
_MAX_REASON = 4_000


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP answer to one push."""

    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueRetry:
    """A queue's retry settings, as Cloud Tasks applies them."""

    min_backoff: float = 0.1
    max_backoff: float = 3_600.0
    max_doublings: int = 16
    max_attempts: int = 100  # -1: unlimited

    @classmethod
    def emulator(cls) -> QueueRetry:
        """What the Cloud Tasks emulator really does: retry at once, without a limit."""
        return cls(min_backoff=0.0, max_backoff=0.0, max_doublings=0, max_attempts=-1)

    def backoff(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1 for the first retry)."""
        doublings = min(retry - 1, self.max_doublings)
        interval = self.min_backoff * float(2**doublings)
        if retry - 1 > self.max_doublings:
            step = self.min_backoff * float(2**self.max_doublings)
            interval += (retry - 1 - self.max_doublings) * step
        return min(self.max_backoff, interval)

    def allows(self, dispatch: int) -> bool:
        """Whether Cloud Tasks makes dispatch number ``dispatch`` (1-based)."""
        return self.max_attempts < 0 or dispatch <= self.max_attempts


class PushReceiver:
    """Runs Cloud Tasks pushes for ``app`` on ``backend`` (results in ``results``, the
    backend's store unless another is given)."""

    def __init__(
        self,
        app: Dispatcher,
        backend: GcpBackend,
        *,
        results: ResultStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app, self.backend, self.clock = app, backend, clock
        self.executor = Executor(app, results or backend.results, clock=clock)
        self._retry: dict[str, tuple[QueueRetry, float]] = {}
        self._lock = threading.Lock()

    # --- pushes ------------------------------------------------------------------------------

    def handle(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Run one push (``headers`` in any case) and say how to answer it."""
        h = {name.lower(): value for name, value in headers.items()}
        retries = _count(h.get(RETRY_COUNT_HEADER))
        before = _count(h.get(ATTEMPTS_HEADER.lower()))
        queue = self._queue(h.get(QUEUE_HEADER), body)
        pushed, pointer = body, None
        check = h.get(CLAIM_CHECK_HEADER.lower())
        outcome: Outcome | None = None
        if check is not None:
            try:
                pointer, body = self.backend.claim_checks.get(check)
            except ClaimCheckError as error:
                outcome = DeadLetter(str(error), cause=Cause.PAYLOAD)
        if outcome is None:
            delivery = Delivery(
                body=body,
                receive_count=before + retries + 1,
                queue=queue,
                backend_id=h.get(TASK_NAME_HEADER, ""),
            )
            outcome = self.executor.process(delivery)
        if isinstance(outcome, Ack):
            if pointer is not None:
                self._drop(pointer)
            return Answer(200, "done")
        if isinstance(outcome, DeadLetter):
            return self._dead_letter(queue, body, outcome, h, pointer)
        return self._retry_later(queue, pushed, body, outcome, h, retries, before)

    def _queue(self, header: str | None, body: bytes) -> str:
        if header:
            return self.backend.config.task_queue(header)
        try:
            task = self.app.tasks.get(decode(body).task)
        except InvalidMessage:
            task = None
        return task.options.queue if task is not None else UNKNOWN_QUEUE

    def _dead_letter(
        self,
        queue: str,
        body: bytes,
        outcome: DeadLetter,
        headers: Mapping[str, str],
        pointer: Pointer | None,
    ) -> Answer:
        envelope = _envelope(body)
        message_id = (
            envelope.id
            if envelope is not None
            else headers.get(TASK_NAME_HEADER) or hashlib.sha256(body).hexdigest()[:32]
        )
        from dispatcher.operations import DeadLetterEntry  # a rare path: not on a cold start

        entry = DeadLetterEntry(
            id=message_id,
            queue=queue,
            task=outcome.task or (envelope.task if envelope else None),
            reason=outcome.reason[:_MAX_REASON],
            attempt=outcome.attempt,
            died_at=datetime.fromtimestamp(self.clock(), UTC),
            body=body,
            cause=outcome.cause,
        )
        try:
            self.backend.dead_letters.put(entry)
        except Exception as error:  # Cloud Tasks pushes it again; nothing is lost
            log.error("could not dead-letter %s (%s): %s", message_id, outcome.reason, error)
            return Answer(503, f"could not dead-letter: {error}")
        if pointer is not None:
            self._drop(pointer)  # the dead letter holds the body now
        log.warning("dead-lettered %s from %s: %s", message_id, queue, outcome.reason)
        return Answer(200, f"dead-lettered: {entry.reason}")

    def _retry_later(
        self,
        queue: str,
        pushed: bytes,
        body: bytes,
        outcome: RetryLater,
        headers: Mapping[str, str],
        retries: int,
        before: int,
    ) -> Answer:
        envelope = _envelope(body)
        message_id = envelope.id if envelope is not None else hashlib.sha256(pushed).hexdigest()
        delay = max(0.0, outcome.delay)
        if outcome.cause is Cause.NOT_DUE:
            # Early (a hop past the 30-day horizon): the time left, counts unchanged.
            step = min(delay, MAX_SCHEDULE)
            name = derived_task_id(message_id, "hop", str(int(self.clock() + step)))
            return self._recreate(
                queue, pushed, headers, step, before + retries, name, outcome, envelope
            )
        if self._native(queue, retries, delay):
            seconds = str(max(0, round(delay)))
            return Answer(503, f"retry: {outcome.reason}", {"Retry-After": seconds})
        name = derived_task_id(message_id, "retry", str(before + retries + 1))
        return self._recreate(
            queue, pushed, headers, delay, before + retries + 1, name, outcome, envelope
        )

    def _recreate(
        self,
        queue: str,
        pushed: bytes,
        headers: Mapping[str, str],
        delay: float,
        attempts: int,
        name: str,
        outcome: RetryLater,
        envelope: Envelope | None,
    ) -> Answer:
        sent = {ATTEMPTS_HEADER: str(attempts)}
        check = headers.get(CLAIM_CHECK_HEADER.lower())
        if check is not None:
            sent[CLAIM_CHECK_HEADER] = check
        try:
            self.backend.recreate(
                queue, pushed, delay=delay, timeout=self._timeout(envelope), name=name, headers=sent
            )
        except Exception as error:  # Cloud Tasks retries it on its own schedule instead
            log.error("could not re-create a task on %s: %s", queue, error)
            return Answer(503, f"retry: {outcome.reason}")
        return Answer(200, f"retry in {delay:.1f}s: {outcome.reason}")

    def _timeout(self, envelope: Envelope | None) -> float:
        task = self.app.tasks.get(envelope.task) if envelope is not None else None
        return task.options.timeout if task is not None else 60.0

    def _native(self, queue: str, retries: int, delay: float) -> bool:
        """Whether Cloud Tasks' own next retry is the one the task wants."""
        policy = self.queue_retry(queue)
        if policy is None or not policy.allows(retries + 2):
            return False
        return abs(policy.backoff(retries + 1) - delay) <= max(NATIVE_SLACK, 0.1 * delay)

    def queue_retry(self, queue: str) -> QueueRetry | None:
        """The retry settings of ``queue``'s Cloud Tasks queue (read with GetQueue, cached);
        ``None`` when they cannot be read."""
        if self.backend.config.emulated:
            return QueueRetry.emulator()
        now = self.clock()
        cached = self._retry.get(queue)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            found = self.backend.clients.tasks.get_queue(
                name=self.backend.config.queue_path(queue)
            ).retry_config
        except Exception as error:
            log.warning("cannot read the retry settings of %s: %s", queue, error)
            return None
        policy = QueueRetry(
            min_backoff=_seconds(found.min_backoff, 0.1),
            max_backoff=_seconds(found.max_backoff, 3_600.0),
            max_doublings=found.max_doublings or 16,
            max_attempts=found.max_attempts or 100,
        )
        with self._lock:
            self._retry[queue] = (policy, now + RETRY_CONFIG_TTL)
        return policy

    def _drop(self, pointer: Pointer) -> None:
        try:
            self.backend.claim_checks.delete(pointer)
        except Exception as error:  # an orphan object is harmless; the bucket's lifecycle ends it
            log.warning("could not delete %s: %s", pointer.url, error)

    # --- schedules ---------------------------------------------------------------------------

    def schedule(self, task_name: str, headers: Mapping[str, str]) -> Answer:
        """A Cloud Scheduler push for a periodic task: send it for the slot named by
        ``X-CloudScheduler-ScheduleTime``, with the dedup key ``beat:TASK:SLOT`` (the local
        beat's), so that a repeated push sends it once."""
        task = self.app.tasks.get(task_name)
        if task is None or task.options.schedule is None:
            return Answer(404, f"no periodic task {task_name!r}")
        h = {name.lower(): value for name, value in headers.items()}
        slot = h.get(SCHEDULE_TIME_HEADER) or _minute(self.clock())
        handle = task.send(dedup_key=f"beat:{task.name}:{slot}")
        return Answer(200, f"sent {handle.id}")


def _count(text: str | None) -> int:
    try:
        return max(0, int(text or 0))
    except ValueError:
        return 0


def _envelope(body: bytes) -> Envelope | None:
    try:
        return decode(body)
    except InvalidMessage:
        return None


def _seconds(value: object, default: float) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds() or default
    return default


def _minute(now: float) -> str:
    return datetime.fromtimestamp(now - now % 60, UTC).isoformat()
