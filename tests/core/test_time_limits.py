"""Time limits in the execution core: a task's timeout that its own code cannot swallow, an
alarm that never fires outside the task, and the time an invocation has left (a receiver's
deadline) deciding what may start. Attempts numbered by runs where the store counts them."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import pytest

from dispatcher import (
    Cause,
    Claim,
    Delivery,
    Dispatcher,
    Executor,
    Granted,
    Retry,
    RetryLater,
    Status,
    TaskFailed,
    TaskTimedOut,
    current,
)
from dispatcher.backend import TaskResult
from dispatcher.execution import _ALARM
from dispatcher.receiving import SETTLE_RESERVE, BufferedResults, Deadline, Watchdog
from dispatcher.testing import InMemoryBackend, MemoryResults


def memory(app: Dispatcher) -> InMemoryBackend:
    backend = app.backend
    assert isinstance(backend, InMemoryBackend)
    return backend


class RunningDown:
    """A clock for a :class:`Deadline`: ``left`` seconds that only go down when told."""

    def __init__(self, left: float) -> None:
        self.left = left

    def __call__(self) -> float:
        return self.left


# --- a task cannot swallow its timeout --------------------------------------------------------


def test_a_task_that_catches_exception_still_times_out(app: Dispatcher) -> None:
    @app.task(name="stubborn", timeout=0.2, retry=Retry(attempts=1))
    def stubborn() -> str:
        try:
            time.sleep(5)
        except Exception:  # a task's usual catch-all must not hide its timeout
            return "swallowed"
        return "slept"

    handle = stubborn.delay()
    started = time.monotonic()
    memory(app).drain()
    assert time.monotonic() - started < 2
    with pytest.raises(TaskFailed, match=r"TaskTimedOut: ran longer than its timeout of 0\.2s"):
        handle.result(timeout=0)


def test_a_timeout_is_retried_where_a_timeout_error_would_be(app: Dispatcher) -> None:
    runs: list[str] = []

    @app.task(name="retried", timeout=0.1, retry=Retry(attempts=2, delay=0, jitter=False))
    def retried() -> None:
        runs.append("retried")
        time.sleep(5)

    @app.task(name="narrow", timeout=0.1, retry=Retry(attempts=3, retry_on=(ConnectionError,)))
    def narrow() -> None:
        runs.append("narrow")
        time.sleep(5)

    @app.task(name="never", timeout=0.1, retry=Retry(attempts=3, never_retry=(TimeoutError,)))
    def never() -> None:
        runs.append("never")
        time.sleep(5)

    for task in (retried, narrow, never):
        task.delay()
    memory(app).drain()
    assert runs == ["retried", "narrow", "never", "retried"]
    causes = {str(e.task).rsplit(".", 1)[-1]: e.cause for e in memory(app).dead_letters.entries()}
    assert causes == {
        "retried": Cause.EXHAUSTED,
        "narrow": Cause.NOT_RETRIED,
        "never": Cause.NON_RETRYABLE,
    }


# --- the alarm fires in the task, nowhere else ------------------------------------------------


def test_a_stray_alarm_after_the_task_returned_is_ignored(app: Dispatcher) -> None:
    @app.task(name="quick", timeout=5)
    def quick() -> int:
        return 1

    handle = quick.delay()
    memory(app).drain()
    assert handle.result(timeout=0) == 1
    signal.raise_signal(signal.SIGALRM)  # a late or foreign SIGALRM: not the task's timeout
    assert quick.delay().id  # still alive, and the next task still runs
    memory(app).drain()


def test_the_alarm_raises_in_the_task_and_not_in_the_executors_own_frame() -> None:
    seen: dict[str, Any] = {}

    def task() -> str:
        inside = sys._getframe()
        executor_frame = inside.f_back  # the alarm's own code, which called the task
        assert executor_frame is not None
        _ALARM.on_signal(signal.SIGALRM, executor_frame)  # handled there: deferred
        seen["deferred"] = True
        try:
            _ALARM.on_signal(signal.SIGALRM, inside)  # handled in the task: raised
        except TaskTimedOut:
            seen["raised"] = True
        return "returned"

    assert _ALARM.call(task, [], {}, 5.0) == "returned"
    assert seen == {"deferred": True, "raised": True}


def test_a_task_that_replaces_the_alarm_handler_does_not_disarm_the_next(
    app: Dispatcher,
) -> None:
    @app.task(name="rude", timeout=5)
    def rude() -> None:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)

    @app.task(name="slow", timeout=0.2, retry=Retry(attempts=1))
    def slow() -> None:
        time.sleep(5)

    rude.delay()
    handle = slow.delay()
    started = time.monotonic()
    try:
        memory(app).drain()
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert time.monotonic() - started < 2
    with pytest.raises(TaskFailed, match="TaskTimedOut"):
        handle.result(timeout=0)


# --- the time an invocation has left ----------------------------------------------------------


def test_a_task_that_cannot_finish_before_the_deadline_is_not_started(app: Dispatcher) -> None:
    ran: list[str] = []

    @app.task(name="long", timeout=30)
    def long() -> None:
        ran.append("long")

    results = MemoryResults()
    executor = Executor(app, results)
    body = long.message(()).body
    clock = RunningDown(30 + SETTLE_RESERVE - 0.5)
    outcome = executor.process(Delivery(body), Deadline(clock))
    assert isinstance(outcome, RetryLater) and outcome.cause is Cause.NO_TIME
    assert outcome.delay == 0 and ran == []
    assert results.records == {}  # no claim, no record: it never started
    clock.left = 30 + SETTLE_RESERVE
    assert executor.process(Delivery(body), Deadline(clock)).kind == "ack"
    assert ran == ["long"]


class LeaseRecorder(MemoryResults):
    """Memory results that remember each claim's lease."""

    def __init__(self) -> None:
        super().__init__()
        self.leases: list[float] = []

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        self.leases.append(lease)
        return super().claim(task_id, task, attempt, lease)


def test_a_claim_lasts_until_the_deadline_when_results_are_held(app: Dispatcher) -> None:
    @app.task(name="short", timeout=5)
    def short() -> None: ...

    results = LeaseRecorder()
    executor = Executor(app, results, claim_grace=3)
    executor.process(Delivery(short.message(()).body), Deadline(RunningDown(120)))
    executor.process(Delivery(short.message(()).body))
    assert results.leases == [123, 8]


# --- attempts counted where the task ran ------------------------------------------------------


class CountingResults:
    """Memory results whose claims count runs, as the DynamoDB store does."""

    def __init__(self) -> None:
        self.inner = MemoryResults()
        self.runs: dict[str, int] = {}

    def get(self, task_id: str) -> TaskResult | None:
        return self.inner.get(task_id)

    def save(self, result: TaskResult) -> None:
        self.inner.save(result)

    def forget(self, task_id: str) -> None:
        self.inner.forget(task_id)

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim | Granted:
        answer = self.inner.claim(task_id, task, attempt, lease)
        if answer is not Claim.GRANTED:
            return answer
        self.runs[task_id] = self.runs.get(task_id, attempt - 1) + 1
        return Granted(self.runs[task_id])


def test_attempts_come_from_the_store_when_it_counts_runs(app: Dispatcher) -> None:
    seen: list[int] = []

    @app.task(name="flaky", retry=Retry(attempts=3, delay=0, jitter=False))
    def flaky() -> None:
        task = current()
        assert task is not None
        seen.append(task.attempt)
        raise ConnectionError("down")

    results = CountingResults()
    executor = Executor(app, results, count_deliveries=False)
    message = flaky.message(())
    # Seven deliveries, as when a message is held back behind its FIFO group: the task ran
    # three times, so it failed on its third attempt, not its seventh.
    outcomes = [executor.process(Delivery(message.body, receive_count=7)) for _ in range(3)]
    assert seen == [1, 2, 3]
    assert [o.kind for o in outcomes] == ["retry", "retry", "dead_letter"]
    last = outcomes[-1]
    assert last.kind == "dead_letter" and last.attempt == 3
    record = results.get(message.envelope.id)
    assert record is not None and record.status is Status.FAILED and record.attempt == 3


def test_deliveries_number_attempts_for_stores_that_do_not_count(app: Dispatcher) -> None:
    @app.task(name="once")
    def once() -> int:
        task = current()
        assert task is not None
        return task.attempt

    executor = Executor(app, MemoryResults())
    message = once.message(())
    executor.process(Delivery(message.body, receive_count=4))
    record = executor.results.get(message.envelope.id)
    assert record is not None and record.status is Status.SUCCEEDED and record.value == 4


# --- the watchdog ------------------------------------------------------------------------------


def _result(task_id: str, status: Status) -> TaskResult:
    from datetime import UTC, datetime

    return TaskResult(id=task_id, task="t", status=status, updated_at=datetime.now(UTC))


def test_buffered_results_take_what_is_asked_and_keep_the_rest() -> None:
    buffered = BufferedResults(MemoryResults())
    buffered.save(_result("a", Status.SUCCEEDED))
    buffered.save(_result("b", Status.FAILED))
    taken = buffered.take(lambda r: r.status is not Status.FAILED)
    assert [r.id for r in taken] == ["a"]
    assert [r.id for r in buffered.take()] == ["b"]


def test_the_watchdog_acts_when_the_deadline_nears_and_not_after_the_batch() -> None:
    fired = threading.Event()
    watchdog = Watchdog(fired.set)
    with watchdog.watching(Deadline(RunningDown(SETTLE_RESERVE / 2 + 0.1))):
        assert fired.wait(2)  # the batch is stuck: the action runs beside it
    fired.clear()
    with watchdog.watching(Deadline(RunningDown(SETTLE_RESERVE / 2 + 0.2))):
        pass  # the batch ended in time
    time.sleep(0.4)
    assert not fired.is_set()


def test_leaving_the_watch_waits_for_an_action_under_way() -> None:
    done: list[str] = []

    def slow_action() -> None:
        time.sleep(0.3)
        done.append("written")

    watchdog = Watchdog(slow_action)
    with watchdog.watching(Deadline(RunningDown(SETTLE_RESERVE / 2))):
        time.sleep(0.1)
    assert done == ["written"]
