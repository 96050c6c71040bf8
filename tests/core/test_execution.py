"""The execution core, through the in-memory backend (a virtual clock; no waiting)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator

from dispatcher import (
    Ack,
    Cause,
    DeadLetter,
    Delivery,
    Dispatcher,
    Executor,
    NonRetryable,
    Retry,
    RetryLater,
    Status,
    TaskFailed,
    current,
    execution,
)
from dispatcher.testing import InMemoryBackend


def memory(app: Dispatcher) -> InMemoryBackend:
    backend = app.backend
    assert isinstance(backend, InMemoryBackend)
    return backend


def test_success_records_the_result(app: Dispatcher) -> None:
    @app.task(name="charge", queue="payments")
    def charge(order_id: int, amount_cents: int) -> str:
        return f"ch_{order_id}"

    handle = charge.delay(42, 1999)
    assert handle.status() is None
    assert memory(app).drain() == 1
    assert handle.result(timeout=0) == "ch_42"
    record = handle.status()
    assert record is not None and record.status is Status.SUCCEEDED and record.attempt == 1


def test_result_is_coerced_back_with_the_return_hint(app: Dispatcher) -> None:
    @app.task(name="when")
    def when() -> datetime:
        return datetime(2026, 1, 1)

    handle = when.delay()
    memory(app).drain()
    assert handle.result(timeout=0) == datetime(2026, 1, 1)


def test_failures_retry_with_backoff_then_succeed(app: Dispatcher) -> None:
    attempts: list[int] = []

    @app.task(name="flaky", retry=Retry(attempts=5, delay=10, backoff=2, jitter=False))
    def flaky() -> str:
        task = current()
        assert task is not None
        attempts.append(task.attempt)
        if task.attempt < 3:
            raise ConnectionError("gateway timeout")
        return "ok"

    backend = memory(app)
    started = backend.now
    handle = flaky.delay()
    assert backend.drain() == 3
    assert attempts == [1, 2, 3]
    assert handle.result(timeout=0) == "ok"
    assert backend.now - started == pytest.approx(10 + 20)  # the backoff schedule, virtually


def test_a_task_that_keeps_failing_is_dead_lettered_after_its_attempts(app: Dispatcher) -> None:
    @app.task(name="doomed", retry=Retry(attempts=3, delay=1))
    def doomed() -> None:
        raise ConnectionError("warehouse offline")

    handle = doomed.delay()
    assert memory(app).drain() == 3
    [reason] = [e.reason for e in memory(app).dead_letters.entries()]
    assert reason == "failed 3 of 3 attempts: ConnectionError: warehouse offline"
    with pytest.raises(TaskFailed) as caught:
        handle.result(timeout=0)
    assert caught.value.error_type == "ConnectionError"
    assert caught.value.error_message == "warehouse offline"
    assert "ConnectionError" in (caught.value.remote_traceback or "")


def test_non_retryable_errors_dead_letter_at_once(app: Dispatcher) -> None:
    @app.task(name="ship", retry=Retry(attempts=5, never_retry=(KeyError,)))
    def ship(country: str) -> None:
        if country == "XX":
            raise NonRetryable("we do not ship to XX")
        raise KeyError(country)

    ship.delay("XX")
    ship.delay("YY")
    assert memory(app).drain() == 2
    reasons = [e.reason for e in memory(app).dead_letters.entries()]
    assert reasons == [
        "non-retryable error on attempt 1: NonRetryable: we do not ship to XX",
        "non-retryable error on attempt 1: KeyError: 'YY'",
    ]


def test_errors_outside_retry_on_are_not_retried(app: Dispatcher) -> None:
    @app.task(name="strict", retry=Retry(attempts=5, retry_on=(ConnectionError,)))
    def strict() -> None:
        raise ValueError("bad data")

    strict.delay()
    assert memory(app).drain() == 1
    assert (
        memory(app).dead_letters.entries()[0].reason.startswith("error not in retry_on, attempt 1")
    )


def test_async_tasks_run(app: Dispatcher) -> None:
    @app.task(name="mail")
    async def mail(to: str) -> str:
        await asyncio.sleep(0)
        return f"sent to {to}"

    handle = mail.delay("ada@example.com")
    memory(app).drain()
    assert handle.result(timeout=0) == "sent to ada@example.com"


def test_sync_timeout_interrupts_the_task(app: Dispatcher) -> None:
    @app.task(name="slow", timeout=0.1, retry=Retry(attempts=1))
    def slow() -> None:
        time.sleep(5)

    handle = slow.delay()
    started = time.monotonic()
    memory(app).drain()
    assert time.monotonic() - started < 2
    with pytest.raises(TaskFailed, match=r"TaskTimedOut: ran longer than its timeout of 0\.1s"):
        handle.result(timeout=0)


def test_async_timeout_cancels_the_task(app: Dispatcher) -> None:
    @app.task(name="slow", timeout=0.1, retry=Retry(attempts=1))
    async def slow() -> None:
        await asyncio.sleep(5)

    handle = slow.delay()
    memory(app).drain()
    with pytest.raises(TaskFailed, match="TaskTimedOut"):
        handle.result(timeout=0)


def test_expired_messages_are_dead_lettered_not_run(app: Dispatcher) -> None:
    ran: list[int] = []

    @app.task(name="late", expires=5)
    def late() -> None:
        ran.append(1)

    handle = late.send(countdown=60)
    memory(app).drain()
    assert ran == []
    assert memory(app).dead_letters.entries()[0].reason.startswith("expired at ")
    with pytest.raises(TaskFailed, match="expired"):
        handle.result(timeout=0)


def test_children_carry_parent_root_and_trace(app: Dispatcher) -> None:
    @app.task(name="child")
    def child() -> None: ...

    @app.task(name="parent")
    def parent() -> None:
        child.delay()

    handle = parent.delay()
    memory(app).drain()
    sent = memory(app).sent
    first, second = sent[0].envelope, sent[1].envelope
    assert second.parent_id == handle.id and second.root_id == handle.id
    assert first.traceparent and second.traceparent
    assert first.traceparent.split("-")[1] == second.traceparent.split("-")[1]  # same trace
    assert first.traceparent.split("-")[2] != second.traceparent.split("-")[2]  # new span


def test_a_duplicate_delivery_of_a_finished_task_is_not_run_again(app: Dispatcher) -> None:
    runs: list[int] = []

    @app.task(name="once")
    def once() -> None:
        runs.append(1)

    message = once.message()
    executor = Executor(app)
    assert executor.process(Delivery(message.body)) == Ack()
    assert executor.process(Delivery(message.body, receive_count=2)) == Ack()
    assert runs == [1]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "message body is not JSON"),
        (b'{"version": 9}', "unsupported envelope version 9"),
        (
            b'{"version": 1, "id": "x", "task": "shop.nope", "created_at": "2026-01-01T00:00:00Z"}',
            "unknown task 'shop.nope'",
        ),
        (
            b'{"version": 1, "id": "x", "task": "charge", "args": ["lots"],'
            b' "created_at": "2026-01-01T00:00:00Z"}',
            "task 'charge': argument 'order_id': Input should be a valid integer",
        ),
    ],
)
def test_bad_input_is_dead_lettered_with_the_reason(
    app: Dispatcher, body: bytes, reason: str
) -> None:
    @app.task(name="charge")
    def charge(order_id: int) -> None: ...

    outcome = Executor(app).process(Delivery(body))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason.startswith(reason)


_HEAD = b'{"version": 1, "id": "x", "created_at": "2026-01-01T00:00:00Z", '


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a":' * 1_000 + b"1" + b"}" * 1_000, "invalid envelope: a: Lists and objects should"),
        (
            _HEAD + b'"task": "anything", "args": [' + b"[" * 500 + b"]" * 500 + b"]}",
            "invalid envelope: args",
        ),
        (_HEAD + b'"task": "fails", "attempt": ' + b"9" * 4_300 + b"}", "invalid envelope: a num"),
        (_HEAD + b'"task": "fails", "attempt": 1e10}', "invalid envelope: attempt: Input should"),
        (_HEAD + b'"task": "anything", "args": [NaN]}', "message body is not JSON"),
        ('{"x": 1}'.encode("utf-16"), "message body is not JSON"),
    ],
    ids=[
        "1,000 deep body",
        "500 deep args",
        "4,300-digit attempt",
        "1e10 attempt",
        "NaN",
        "utf-16",
    ],
)
def test_poison_bodies_found_by_fuzzing_are_dead_lettered(
    app: Dispatcher, body: bytes, reason: str
) -> None:
    @app.task(name="anything")
    def anything(*args: Any) -> None: ...

    @app.task(name="fails")
    def fails() -> None:
        raise ValueError("no")

    outcome = Executor(app).process(Delivery(body))
    assert isinstance(outcome, DeadLetter) and outcome.cause is Cause.MALFORMED
    assert outcome.reason.startswith(reason)


def test_an_unforeseen_error_in_decoding_is_a_dead_letter_not_a_crash(
    app: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_decode(body: bytes) -> None:
        raise RuntimeError("a decoder bug")

    monkeypatch.setattr(execution, "decode", broken_decode)
    outcome = Executor(app).process(Delivery(b"{}"))
    assert isinstance(outcome, DeadLetter) and outcome.cause is Cause.MALFORMED
    assert (
        outcome.reason == "the body could not be decoded (unexpected RuntimeError: a decoder bug)"
    )


def _lookup(value: int) -> int:
    return {1: 1}[value]  # a KeyError: pydantic passes it on instead of a ValidationError


def test_an_unforeseen_error_in_validation_is_a_dead_letter_not_a_crash(app: Dispatcher) -> None:
    @app.task(name="strict")
    def strict(key: Annotated[int, AfterValidator(_lookup)]) -> None: ...

    strict.delay(1)
    memory(app).drain()
    body = strict.message((1,)).body.replace(b"[1]", b"[2]")
    outcome = Executor(app).process(Delivery(body))
    assert isinstance(outcome, DeadLetter) and outcome.cause is Cause.INVALID_ARGUMENTS
    assert outcome.reason.startswith("the arguments could not be validated (unexpected KeyError")


def test_eta_in_the_future_is_not_run_yet(app: Dispatcher) -> None:
    @app.task(name="later")
    def later() -> None: ...

    outcome = Executor(app).process(Delivery(later.message(countdown=3600).body))
    assert isinstance(outcome, RetryLater) and 3590 < outcome.delay <= 3600


def test_map_sends_a_batch(app: Dispatcher) -> None:
    @app.task(name="square")
    def square(n: int) -> int:
        return n * n

    handles = square.map([(1,), (2,), {"n": 3}])
    memory(app).drain()
    assert [h.result(timeout=0) for h in handles] == [1, 4, 9]


def test_send_by_name(app: Dispatcher) -> None:
    @app.task(name="shop.echo")
    def echo(value: Any) -> Any:
        return value

    handle = app.send("shop.echo", {"a": 1})
    memory(app).drain()
    assert handle.result(timeout=0) == {"a": 1}


def test_callable_backend_hands_each_message_to_a_function() -> None:
    from dispatcher import Outgoing
    from dispatcher.testing import CallableBackend

    seen: list[Outgoing] = []
    app = Dispatcher("shop", backend=CallableBackend(lambda message: seen.append(message)))

    @app.task(name="charge", queue="payments")
    def charge(order_id: int) -> None: ...

    handle = charge.send(args=("42",), countdown=5)
    [message] = seen
    assert message.queue == "payments" and 4 < message.delay <= 5
    assert message.envelope.args == [42] and message.envelope.id == handle.id
