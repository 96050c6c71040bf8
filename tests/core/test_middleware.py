"""Middleware: hooks around sending and running, in order, able to count and to refuse."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest

from dispatcher import (
    Cause,
    DeadLetter,
    Dispatcher,
    Envelope,
    MessageRefused,
    Outcome,
    Receipt,
    Retry,
    RetryLater,
    Task,
)
from dispatcher.middleware import Draft, Middleware, StructuredLogging
from dispatcher.testing import InMemoryBackend


def _memory(app: Dispatcher) -> InMemoryBackend:
    backend = app.backend
    assert isinstance(backend, InMemoryBackend)
    return backend


class Counting(Middleware):
    """Counts every hook call; records the order of calls in ``log``."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.calls = name, log, Counter[str]()

    def _seen(self, hook: str) -> None:
        self.calls[hook] += 1
        self.log.append(f"{self.name}.{hook}")

    def before_send(self, app: Dispatcher, draft: Draft) -> None:
        self._seen("before_send")

    def after_send(self, app: Dispatcher, envelope: Envelope, receipt: Receipt) -> None:
        self._seen("after_send")

    def before_run(
        self, app: Dispatcher, task: Task[Any, Any], envelope: Envelope, attempt: int
    ) -> None:
        self._seen("before_run")

    def after_run(
        self,
        app: Dispatcher,
        task: Task[Any, Any],
        envelope: Envelope,
        attempt: int,
        outcome: Outcome,
        seconds: float,
    ) -> None:
        self._seen("after_run")

    def on_retry(self, app: Dispatcher, envelope: Envelope, outcome: RetryLater) -> None:
        self._seen("on_retry")

    def on_dead_letter(
        self, app: Dispatcher, envelope: Envelope | None, outcome: DeadLetter
    ) -> None:
        self._seen("on_dead_letter")


class RefuseCountry(Middleware):
    """Refuses to send orders to one country, and to run anything marked in its headers."""

    def before_send(self, app: Dispatcher, draft: Draft) -> None:
        if draft.args and draft.args[0] == "XX":
            raise MessageRefused("no orders to XX")
        draft.headers["checked-by"] = "refuser"

    def before_run(
        self, app: Dispatcher, task: Task[Any, Any], envelope: Envelope, attempt: int
    ) -> None:
        if envelope.headers.get("embargo") == "yes":
            raise MessageRefused("embargoed")


def test_every_hook_is_called_and_the_after_hooks_run_in_reverse() -> None:
    log: list[str] = []
    outer, inner = Counting("outer", log), Counting("inner", log)
    app = Dispatcher("shop", backend="memory", middleware=[outer, inner])

    @app.task(retry=Retry(attempts=2, delay=1, jitter=False))
    def flaky(n: int) -> int:
        if n < 0:
            raise ValueError("negative")
        return n

    flaky.delay(1)
    flaky.delay(-1)
    _memory(app).drain()
    assert outer.calls == {
        "before_send": 2,
        "after_send": 2,
        "before_run": 3,  # 1, then -1 twice
        "after_run": 3,
        "on_retry": 1,
        "on_dead_letter": 1,
    }
    assert log[:4] == [
        "outer.before_send",
        "inner.before_send",
        "inner.after_send",
        "outer.after_send",
    ]


def test_a_middleware_can_refuse_at_send_and_at_run() -> None:
    app = Dispatcher("shop", backend="memory")
    app.add_middleware(RefuseCountry())
    ran: list[str] = []

    @app.task
    def ship(country: str) -> None:
        ran.append(country)

    with pytest.raises(MessageRefused, match="no orders to XX"):
        ship.delay("XX")
    fine = ship.send(args=("GB",))
    embargoed = ship.send(args=("IR",), headers={"embargo": "yes"})
    _memory(app).drain()
    assert ran == ["GB"]
    assert _memory(app).sent[0].envelope.headers == {"checked-by": "refuser"}
    [letter] = _memory(app).dead_letters.entries()
    assert (letter.id, letter.cause, letter.reason) == (
        embargoed.id,
        Cause.REFUSED,
        "refused: embargoed",
    )
    assert fine.result(timeout=0) is None


def test_a_failing_after_hook_does_not_change_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Middleware):
        def on_retry(self, app: Dispatcher, envelope: Envelope, outcome: RetryLater) -> None:
            raise RuntimeError("metrics are down")

    app = Dispatcher("shop", backend="memory", middleware=[Broken()])
    calls: list[int] = []

    @app.task(retry=Retry(attempts=2, delay=0, jitter=False))
    def once_broken() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("first time")
        return 7

    handle = once_broken.delay()
    _memory(app).drain()
    assert handle.result(timeout=0) == 7
    assert "metrics are down" in caplog.text


def test_trace_context_is_on_by_default_and_can_be_left_out() -> None:
    traced = Dispatcher("shop", backend="memory")
    bare = Dispatcher("shop", backend="memory", middleware=[])
    for app in (traced, bare):

        @app.task(name="noop")
        def noop() -> None: ...

        app.send("noop")
    assert _memory(traced).sent[0].envelope.traceparent is not None
    assert _memory(bare).sent[0].envelope.traceparent is None


def test_structured_logging_writes_one_json_record_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Dispatcher("shop", backend="memory")
    app.add_middleware(StructuredLogging())

    @app.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    handle = add.delay(1, 2)
    with caplog.at_level(logging.INFO, logger="dispatcher.tasks"):
        _memory(app).drain()
    [record] = [r for r in caplog.records if r.name == "dispatcher.tasks"]
    assert f'"id": "{handle.id}"' in record.getMessage()
    assert '"outcome": "ack"' in record.getMessage()
