"""The Lambda side: partial batch failures, backoff, dead letters, duplicates, order, hops."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.aws.dead_letters import ATTRIBUTE, Note
from adapters.aws.results import DynamoResults
from dispatcher import Status, TaskResult, Throttled
from dispatcher.envelope import decode
from tests.aws import apps
from tests.aws.conftest import Deployed

pytestmark = pytest.mark.emulator


def _note(record: dict[str, Any]) -> Note:
    note = Note.decode(record["messageAttributes"][ATTRIBUTE]["stringValue"])
    assert note is not None
    return note


def _ids(failures: dict[str, list[dict[str, str]]]) -> list[str]:
    return [f["itemIdentifier"] for f in failures["batchItemFailures"]]


def test_partial_batch_failure_reports_exactly_the_failed_records(deployed: Deployed) -> None:
    ok1 = apps.add.delay(1, 1)
    bad = apps.flaky.delay("k")
    ok2 = apps.add.delay(2, 2)
    records = deployed.receive("default")
    assert len(records) == 3
    answer = deployed.processor().handle({"Records": records})
    by_id = {decode(r["body"]).id: r["messageId"] for r in records}
    assert _ids(answer) == [by_id[bad.id]]
    assert ok1.result(timeout=1) == 2 and ok2.result(timeout=1) == 4
    assert bad.status() is not None and bad.status().status is Status.RETRYING  # type: ignore[union-attr]


def test_backoff_is_applied_with_change_message_visibility(deployed: Deployed) -> None:
    apps.flaky.delay("later")  # fails once, then waits 120 s (the queue's own timeout is 1 s)
    records = deployed.receive("default")
    assert _ids(deployed.processor().handle({"Records": records})) == [records[0]["messageId"]]
    time.sleep(1.3)
    assert deployed.receive("default") == []
    assert deployed.counts("default")["notvisible"] == 1


def test_a_zero_backoff_makes_the_message_visible_at_once(deployed: Deployed) -> None:
    apps.always_fails.delay("now")
    first = deployed.receive("default")
    deployed.processor().handle({"Records": first})
    again = deployed.receive("default")  # before the queue's 1 s visibility timeout
    assert [r["messageId"] for r in again] == [first[0]["messageId"]]
    assert again[0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_dead_lettered_after_the_attempts_with_the_reason(deployed: Deployed) -> None:
    handle = apps.always_fails.delay("x")
    runtime = deployed.runtime()
    assert runtime.run_until(lambda: bool(handle.status() and handle.status().status.final), 10)  # type: ignore[union-attr]
    [dead] = deployed.receive("default", dlq=True)
    note = _note(dead)
    assert note.reason.startswith("failed 2 of 2 attempts: RuntimeError: broken x")
    assert (note.queue, note.cause, note.attempt) == ("awstest-default", "exhausted", 2)
    assert decode(dead["body"]).id == handle.id
    assert [c for c in apps.CALLS if c[0] == "always_fails"] == [("always_fails", "x")] * 2
    assert deployed.receive("default") == []


def test_non_retryable_error_is_dead_lettered_at_once(deployed: Deployed) -> None:
    apps.refuse.delay("XX")
    records = deployed.receive("default")
    assert deployed.processor().handle({"Records": records}) == {"batchItemFailures": []}
    [dead] = deployed.receive("default", dlq=True)
    reason = _note(dead).reason
    assert reason == "non-retryable error on attempt 1: NonRetryable: we do not ship to 'XX'"
    assert apps.CALLS == [("refuse", "XX")]


def test_bad_records_go_to_the_dlq_with_a_reason_and_spare_the_batch(deployed: Deployed) -> None:
    good = apps.add.delay(20, 22)
    deployed.send_raw("default", "this is not json")
    unknown = apps.add.message((1, 2)).envelope.copy_with(task="tests.aws.apps.nope")
    deployed.send_raw("default", unknown.encode().decode())
    pointer = "s3://awstest-claim-checks/default/gone.json"
    deployed.send_raw(
        "default",
        json.dumps({"claim_check": pointer}),
        MessageAttributes={"claim_check": {"DataType": "String", "StringValue": pointer}},
    )
    records = deployed.receive("default")
    assert len(records) == 4
    assert deployed.processor().handle({"Records": records}) == {"batchItemFailures": []}
    assert good.result(timeout=1) == 42
    reasons = sorted(_note(r).reason for r in deployed.receive("default", dlq=True))
    assert reasons == [
        f"claim-check object {pointer} is missing",
        "message body is not JSON",
        "unknown task 'tests.aws.apps.nope'",
    ]
    assert deployed.receive("default") == []


def test_a_duplicate_delivery_is_not_run_twice(deployed: Deployed) -> None:
    message = apps.add.message((5, 6))
    body = message.body.decode()
    deployed.send_raw("default", body)
    deployed.send_raw("default", body)  # SQS is at-least-once: the same message twice
    processor = deployed.processor()
    for _ in range(2):
        records = deployed.receive("default", count=1)
        assert processor.handle({"Records": records}) == {"batchItemFailures": []}
    assert apps.CALLS == [("add", (5, 6))]
    record = deployed.backend.results.get(message.envelope.id)
    assert record is not None and record.status is Status.SUCCEEDED and record.value == 11


def test_fifo_order_within_a_group_is_kept(deployed: Deployed) -> None:
    for n in range(6):
        apps.append.delay("a", n)
        apps.append.delay("b", n)
    runtime = deployed.runtime()
    assert runtime.run_until(lambda: len(apps.CALLS) == 12, 10)
    for group in ("a", "b"):
        ran = [args for _, args in apps.CALLS if isinstance(args, tuple) and args[0] == group]
        assert [n for _, n in ran] == list(range(6))


def test_a_failure_in_a_fifo_group_holds_back_the_rest_of_the_group(deployed: Deployed) -> None:
    apps.append.delay("g", -1)  # fails, retryable
    apps.append.delay("g", 2)
    apps.append.delay("h", 3)
    records = deployed.receive("ordered")
    assert [decode(r["body"]).args for r in records] == [["g", -1], ["g", 2], ["h", 3]]
    answer = deployed.processor().handle({"Records": records})
    assert _ids(answer) == [records[0]["messageId"], records[1]["messageId"]]
    assert apps.CALLS == [("append", ("g", -1)), ("append", ("h", 3))]


@pytest.mark.slow
def test_a_three_day_delay_hops_and_runs_once(deployed: Deployed) -> None:
    message = apps.add.message((3, 4), countdown=3 * 86_400)
    eta = message.envelope.eta
    assert eta is not None
    now = [time.time()]
    processor = deployed.processor(clock=lambda: now[0])
    deployed.send_raw("default", message.body.decode())  # as if its first 900 s had passed
    hops = 0
    while True:
        [record] = deployed.receive("default")
        assert processor.handle({"Records": [record]}) == {"batchItemFailures": []}
        deployed.sqs.delete_message(  # as the Lambda poller does for a handled record
            QueueUrl=deployed.url("default"), ReceiptHandle=record["receiptHandle"]
        )
        if apps.CALLS:
            break
        hops += 1
        if hops == 1:  # the hop is on the queue, delayed by the remaining time (at most 900 s)
            assert deployed.counts("default") == {"visible": 0, "notvisible": 0, "delayed": 1}
        deployed.sqs.purge_queue(QueueUrl=deployed.url("default"))
        deployed.send_raw("default", record["body"])  # ...as if that delay had passed
        now[0] += 900
    assert hops == 3 * 86_400 // 900
    assert datetime.fromtimestamp(now[0], UTC) >= eta.replace(microsecond=0)
    assert apps.CALLS == [("add", (3, 4))]
    assert processor.executor.results.get(message.envelope.id).value == 7  # type: ignore[union-attr]


def test_two_copies_in_one_event_run_once(deployed: Deployed) -> None:
    body = apps.add.message((7, 8)).body.decode()
    deployed.send_raw("default", body)
    deployed.send_raw("default", body)
    records = deployed.receive("default")
    assert len(records) == 2
    assert deployed.processor().handle({"Records": records}) == {"batchItemFailures": []}
    assert apps.CALLS == [("add", (7, 8))]


class _UnsavableResults(DynamoResults):
    """A table that takes claims but refuses results, like one that is being throttled."""

    def save(self, result: TaskResult) -> None:
        raise Throttled("results table throttled")

    def write(self, results: Sequence[TaskResult]) -> dict[str, Exception]:
        return {r.id: Throttled("results table throttled") for r in results}


def test_results_that_cannot_be_saved_fail_the_records_that_ran(deployed: Deployed) -> None:
    apps.add.delay(1, 1)
    refused = apps.refuse.delay("XX")
    backend = deployed.backend
    backend.results = _UnsavableResults(backend.clients, backend.results.table)
    records = deployed.receive("default")
    answer = deployed.processor().handle({"Records": records})
    by_id = {decode(r["body"]).id: r["messageId"] for r in records}
    # the dead letter is stored in the DLQ already: running it again would store it twice
    assert _ids(answer) == [m for i, m in by_id.items() if i != refused.id]
    [dead] = deployed.receive("default", dlq=True)
    assert decode(dead["body"]).id == refused.id
