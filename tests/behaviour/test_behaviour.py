"""What every backend does the same way: send → run → result, retry with backoff, dead letter
with its reason, idempotent redelivery, large payloads, and a dead letter replayed."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher import Cause, Status, TaskFailed, TaskHandle
from dispatcher.operations import DeadLetters
from tests.behaviour import apps
from tests.behaviour.harnesses import Harness


def _final(*handles: TaskHandle[Any]) -> bool:
    return all((r := h.status()) is not None and r.status.final for h in handles)


def _dead_letters() -> DeadLetters:
    found = getattr(apps.app.backend, "dead_letters", None)
    assert isinstance(found, DeadLetters)
    return found


def test_send_run_result(harness: Harness) -> None:
    handles = [apps.add.delay(n, n) for n in range(3)]
    assert harness.drive(lambda: _final(*handles))
    assert [h.result(timeout=1) for h in handles] == [0, 2, 4]


def test_retry_after_the_backoff(harness: Harness) -> None:
    handle = apps.flaky.delay("k")
    assert harness.drive(lambda: _final(handle))
    assert handle.result(timeout=1) == "k"
    runs = [r for r in apps.RUNS if r[0] == "flaky"]
    assert [attempt for _, _, attempt, _ in runs] == [1, 2]
    if harness.real_time:
        assert runs[1][3] - runs[0][3] >= 0.9  # the task's 1 s backoff, not the queue's
    record = handle.status()
    assert record is not None and record.attempt == 2


def test_dead_letter_with_its_reason(harness: Harness) -> None:
    handle = apps.always_fails.delay("x")
    assert harness.drive(lambda: _final(handle))
    with pytest.raises(TaskFailed, match="broken x"):
        handle.result(timeout=1)
    [letter] = _dead_letters().entries()
    assert (letter.id, letter.cause, letter.attempt) == (handle.id, Cause.EXHAUSTED, 2)
    assert letter.reason == "failed 2 of 2 attempts: RuntimeError: broken x"
    assert [r[2] for r in apps.RUNS] == [1, 2]


def test_a_redelivered_message_runs_once(harness: Harness) -> None:
    message = apps.add.message((5, 6))
    harness.send_raw(message.body)
    harness.send_raw(message.body)  # at-least-once: the same message twice
    handle = apps.app.handle(message.envelope.id)
    assert harness.drive(lambda: _final(handle) and len(apps.RUNS) >= 1, 20)
    harness.drive(lambda: False, 2.0 if harness.real_time else 0)  # let the copy arrive
    assert [r[:2] for r in apps.RUNS] == [("add", (5, 6))]
    assert handle.result(timeout=1) == 11


def test_a_large_payload_round_trips(harness: Harness) -> None:
    payload = "x" * max(harness.payload_limit + 1, 2_000_000)
    handle = apps.size_of.delay(payload)
    assert harness.drive(lambda: _final(handle), 30)
    assert handle.result(timeout=1) == len(payload)


def test_a_replayed_dead_letter_runs_again(harness: Harness) -> None:
    handle = apps.refuse.delay("XX")
    assert harness.drive(lambda: _final(handle))
    [replayed] = _dead_letters().replay([handle.id])
    assert replayed.id == handle.id
    assert harness.drive(lambda: len(apps.RUNS) == 2 and _final(handle))
    record = handle.status()
    assert record is not None and record.status is Status.FAILED and record.attempt == 1
    assert [e.id for e in _dead_letters().entries()] == [handle.id]
