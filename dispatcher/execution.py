"""The execution core: one path from a received message to an :class:`Outcome`, on every backend.

decode -> find the task -> check expiry and eta -> check the time left -> claim (skip
duplicates) -> validate arguments -> run (sync or async, within the timeout) -> record the
result -> ack, retry later with backoff, or dead-letter with the reason.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from dispatcher import context
from dispatcher.backend import (
    Ack,
    Cause,
    Claim,
    DeadLetter,
    Delivery,
    Granted,
    Outcome,
    ResultStore,
    RetryLater,
    Status,
    TaskResult,
)
from dispatcher.envelope import Envelope, decode
from dispatcher.errors import (
    InvalidArguments,
    InvalidMessage,
    MessageRefused,
    TaskTimedOut,
)
from dispatcher.middleware import call_after
from dispatcher.retry import matches

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.receiving import Deadline
    from dispatcher.task import Task

#: Seconds a claim outlives the task's timeout, to cover recording the result.
CLAIM_GRACE = 30.0
#: How long a delivery that found the task busy elsewhere waits before it looks again.
BUSY_RETRY = 5.0
_TRACEBACK_LIMIT = 8_000
_REASON_LIMIT = 1_000


class Executor:
    """Runs received messages for ``app``, recording results in ``results`` (the app
    backend's store unless another is given).

    Attempts are numbered from the message's deliveries (``Delivery.receive_count``) unless
    ``count_deliveries`` is false: then from the envelope, and a store that counts runs in its
    claim records (it answers :class:`~dispatcher.backend.Granted`) numbers them, so that a
    delivery that did not run the task (busy elsewhere, held back behind its group, out of
    time) uses up no attempt. A claim lasts the task's timeout (or until the deadline, when
    a receiver holds results until then) plus ``claim_grace`` seconds."""

    def __init__(
        self,
        app: Dispatcher,
        results: ResultStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        count_deliveries: bool = True,
        claim_grace: float = CLAIM_GRACE,
    ) -> None:
        self.app = app
        self._results = results
        self.clock = clock
        self.count_deliveries = count_deliveries
        self.claim_grace = claim_grace
        self._local = threading.local()

    @property
    def results(self) -> ResultStore:
        """Where this executor records results."""
        return self._results if self._results is not None else self.app.results

    def process(self, delivery: Delivery, deadline: Deadline | None = None) -> Outcome:
        """Run one delivery and say what to do with it. Never raises for a bad message or a
        failing task; only ``KeyboardInterrupt``/``SystemExit`` escape (the message then stays
        leased, and is delivered again). With a ``deadline``, a task whose timeout would run
        past it is not started (``RetryLater`` with :attr:`Cause.NO_TIME`)."""
        hooks = self.app.hooks
        try:
            envelope = decode(delivery.body)
        except InvalidMessage as error:
            return self._dropped(None, DeadLetter(str(error), cause=Cause.MALFORMED))
        except Exception as error:  # last resort: a body no check foresaw must not kill a worker
            reason = _unforeseen("the body could not be decoded", error)
            return self._dropped(None, DeadLetter(reason, cause=Cause.MALFORMED))
        task = self.app.tasks.get(envelope.task)
        attempt = envelope.attempt
        if self.count_deliveries:
            attempt += max(0, delivery.receive_count - 1)
        if task is None:
            unknown = DeadLetter(
                f"unknown task {envelope.task!r}",
                task=envelope.task,
                cause=Cause.UNKNOWN_TASK,
                attempt=attempt,
            )
            return self._dropped(envelope, unknown)
        now = self.clock()
        if envelope.expires_at is not None and envelope.expires_at.timestamp() <= now:
            expired = f"expired at {envelope.expires_at.isoformat()} before it ran"
            return self._dead_letter(envelope, attempt, expired, Cause.EXPIRED)
        if envelope.eta is not None and envelope.eta.timestamp() > now + 0.5:
            return RetryLater(envelope.eta.timestamp() - now, "not due yet", Cause.NOT_DUE)
        timeout = task.options.timeout
        hold = timeout
        if deadline is not None:
            left = deadline.left()
            if left - deadline.reserve < timeout:
                reason = f"not started: {left:.1f}s left, its timeout is {timeout:g}s"
                return RetryLater(0.0, reason, Cause.NO_TIME)
            hold = max(timeout, left)
        claim = self.results.claim(envelope.id, envelope.task, attempt, hold + self.claim_grace)
        if claim is Claim.DONE:
            return Ack()
        if claim is Claim.BUSY:
            return RetryLater(BUSY_RETRY, "another delivery is running this task", Cause.BUSY)
        if isinstance(claim, Granted):
            attempt = claim.attempt
        try:
            args, kwargs = task.signature.load(envelope.args, envelope.kwargs)
        except InvalidArguments as error:
            return self._dead_letter(envelope, attempt, str(error), Cause.INVALID_ARGUMENTS)
        except Exception as error:  # last resort, as for decoding
            reason = _unforeseen("the arguments could not be validated", error)
            return self._dead_letter(envelope, attempt, reason, Cause.INVALID_ARGUMENTS)
        if hooks.before_run:
            try:
                for hook in hooks.before_run:
                    hook(self.app, task, envelope, attempt)
            except MessageRefused as error:
                return self._dead_letter(envelope, attempt, f"refused: {error}", Cause.REFUSED)
            except Exception as error:
                return self._failed(task, envelope, attempt, error)
        started = time.monotonic()
        outcome = self._run(task, envelope, attempt, args, kwargs)
        if hooks.after_run:
            seconds = time.monotonic() - started
            call_after(hooks.after_run, self.app, task, envelope, attempt, outcome, seconds)
        if isinstance(outcome, RetryLater) and hooks.on_retry:
            call_after(hooks.on_retry, self.app, envelope, outcome)
        elif isinstance(outcome, DeadLetter) and hooks.on_dead_letter:
            call_after(hooks.on_dead_letter, self.app, envelope, outcome)
        return outcome

    def _run(
        self,
        task: Task[Any, Any],
        envelope: Envelope,
        attempt: int,
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> Outcome:
        token = context.current_task.set(
            context.TaskContext(
                task=task.name,
                id=envelope.id,
                root_id=envelope.root_id or envelope.id,
                traceparent=envelope.traceparent,
                attempt=attempt,
            )
        )
        try:
            if task.is_async:
                value = self._run_async(task, args, kwargs)
            else:
                value = _run_sync(task.fn, args, kwargs, task.options.timeout)
            stored = task.signature.dump_result(value)
        except (Exception, TaskTimedOut) as error:
            return self._failed(task, envelope, attempt, error)
        finally:
            context.current_task.reset(token)
        self._record(envelope, attempt, Status.SUCCEEDED, value=stored)
        return Ack()

    def _run_async(self, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        import asyncio  # here, not at the top: it costs a Lambda cold start ~50 ms

        loop = getattr(self._local, "loop", None)
        if loop is None:
            loop = self._local.loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(
                asyncio.wait_for(task.fn(*args, **kwargs), task.options.timeout)
            )
        except TimeoutError:
            raise TaskTimedOut(
                f"ran longer than its timeout of {task.options.timeout:g}s"
            ) from None

    def _failed(
        self, task: Task[Any, Any], envelope: Envelope, attempt: int, error: BaseException
    ) -> Outcome:
        described = f"{type(error).__name__}: {error}"
        import traceback  # here: a task that succeeds never needs it (cold starts)

        trace = traceback.format_exc()[-_TRACEBACK_LIMIT:]
        policy = task.options.retry
        if policy.should_retry(error, attempt):
            self._record(envelope, attempt, Status.RETRYING, error=error, trace=trace)
            return RetryLater(policy.delay_for(attempt), described, Cause.FAILED)
        if policy.never_retries(error):
            reason = f"non-retryable error on attempt {attempt}: {described}"
            cause = Cause.NON_RETRYABLE
        elif not matches(error, policy.retry_on):
            reason = f"error not in retry_on, attempt {attempt}: {described}"
            cause = Cause.NOT_RETRIED
        else:
            reason = f"failed {attempt} of {policy.attempts} attempts: {described}"
            cause = Cause.EXHAUSTED
        self._record(envelope, attempt, Status.FAILED, error=error, trace=trace, reason=reason)
        return DeadLetter(reason, task=task.name, cause=cause, attempt=attempt)

    def _dead_letter(
        self, envelope: Envelope, attempt: int, reason: str, cause: Cause
    ) -> DeadLetter:
        self._record(envelope, attempt, Status.FAILED, reason=reason)
        letter = DeadLetter(reason, task=envelope.task, cause=cause, attempt=attempt)
        return self._dropped(envelope, letter)

    def _dropped(self, envelope: Envelope | None, letter: DeadLetter) -> DeadLetter:
        """A message dead-lettered before its task ran: tell the middleware."""
        if self.app.hooks.on_dead_letter:
            call_after(self.app.hooks.on_dead_letter, self.app, envelope, letter)
        return letter

    def _record(
        self,
        envelope: Envelope,
        attempt: int,
        status: Status,
        *,
        value: Any = None,
        error: BaseException | None = None,
        trace: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.results.save(
            TaskResult(
                id=envelope.id,
                task=envelope.task,
                status=status,
                value=value,
                error_type=type(error).__name__ if error else None,
                error_message=str(error) if error else None,
                traceback=trace,
                reason=reason,
                attempt=attempt,
                root_id=envelope.root_id or envelope.id,
                updated_at=datetime.fromtimestamp(self.clock(), UTC),
            )
        )


def _unforeseen(what: str, error: Exception) -> str:
    """The dead-letter reason for an exception that a check should have turned into a typed
    error (a bug, then: the reason says so, and the message is kept for a replay)."""
    try:
        described = f"{type(error).__name__}: {error}"
    except Exception:  # its message cannot even be written
        described = type(error).__name__
    return f"{what} (unexpected {described[:_REASON_LIMIT]})"


class _Alarm:
    """The main thread's time limit: SIGALRM interrupts the task with :class:`TaskTimedOut`.

    A signal handler is process-wide, so there is one alarm per process. It raises only
    while a task runs and only in the task's own frames: a signal that lands in
    :meth:`call` itself (just before the task starts, or after it returned) is looked at
    again a moment later, or not at all once the task returned; a stray SIGALRM outside
    any task is ignored. Our handler stays installed where nobody else had one (it is inert
    while nothing runs), which spares two system calls per task; someone else's is put back
    after each task.
    """

    def __init__(self) -> None:
        self.running = False
        self.timeout = 0.0

    def call(
        self, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], timeout: float
    ) -> Any:
        """``fn(*args, **kwargs)``, interrupted at ``timeout`` seconds."""
        previous = signal.getsignal(signal.SIGALRM)
        if previous != self.on_signal:
            signal.signal(signal.SIGALRM, self.on_signal)
            if previous in (signal.SIG_DFL, None):
                previous = self.on_signal
        self.timeout, self.running = timeout, True
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return fn(*args, **kwargs)
        finally:
            self.running = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            if previous != self.on_signal:
                signal.signal(signal.SIGALRM, previous)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """The SIGALRM handler: raise in the running task, never elsewhere."""
        if not self.running:
            return
        if frame is not None and frame.f_code is _CALL_CODE:
            signal.setitimer(signal.ITIMER_REAL, 0.001)  # not in the task yet (or any more)
            return
        self.running = False
        raise TaskTimedOut(f"ran longer than its timeout of {self.timeout:g}s")


_CALL_CODE = _Alarm.call.__code__
_ALARM = _Alarm()


def _run_sync(
    fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], timeout: float
) -> Any:
    """Call ``fn``; in a main thread, interrupt it with :class:`TaskTimedOut` at ``timeout``
    (elsewhere a late finish is reported as a timeout, like a platform that kills it)."""
    if threading.current_thread() is not threading.main_thread():
        started = time.monotonic()
        value = fn(*args, **kwargs)
        if time.monotonic() - started > timeout:
            raise TaskTimedOut(f"ran longer than its timeout of {timeout:g}s")
        return value
    return _ALARM.call(fn, args, kwargs, timeout)
