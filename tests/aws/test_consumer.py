"""The Lambda side: partial batch failures, backoff, dead letters, duplicates, order, hops."""

from __future__ import annotations

import json
import logging
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
from tests.aws.faults import Faulty, client_error, fail_with

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
    pointer = f"s3://{deployed.made.bucket}/default/gone.json"
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


# --- issue 9: the rules moto does not enforce, tested against the rules themselves -----------


class LambdaContext:
    """A Lambda context whose ``get_remaining_time_in_millis`` runs down in real time from
    ``seconds`` (the platform's interface, as Lambda passes it)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def test_records_that_cannot_finish_in_the_time_left_are_not_started(deployed: Deployed) -> None:
    handles = [apps.add.delay(n, n) for n in range(3)]  # each may take its timeout: 10 s
    records = deployed.receive("default")
    by_id = {decode(r["body"]).id: r["messageId"] for r in records}
    ordered = [by_id[h.id] for h in handles]
    # 11.5 s left: the first record may use them all; a second would end in the reserve
    answer = deployed.processor().handle({"Records": records}, LambdaContext(11.5))
    assert _ids(answer) == ordered[1:]
    assert apps.CALLS == [("add", (0, 0))]
    assert [h.status() for h in handles[1:]] == [None, None]  # not claimed, not recorded
    again = deployed.receive("default")  # visible again at once (the queue's timeout is 1 s)
    assert sorted(r["messageId"] for r in again) == sorted(ordered[1:])
    answer = deployed.processor().handle({"Records": again}, LambdaContext(60))
    assert answer == {"batchItemFailures": []}
    assert [h.result(timeout=1) for h in handles] == [0, 2, 4]
    assert all(h.status().attempt == 1 for h in handles)  # type: ignore[union-attr]


def test_a_record_listed_twice_in_one_event_is_reported_once(deployed: Deployed) -> None:
    apps.flaky.delay("twice")  # fails its first run, then waits 120 s
    [record] = deployed.receive("default")
    answer = deployed.processor().handle({"Records": [record, record]})
    assert _ids(answer) == [record["messageId"]]
    assert apps.CALLS == [("flaky", "twice")]
    time.sleep(1.3)  # past the queue's own 1 s: the backoff, not a busy retry, holds it
    assert deployed.receive("default") == []


def test_a_fifo_head_that_fails_three_times_costs_its_siblings_no_attempt(
    deployed: Deployed,
) -> None:
    head = apps.stubborn_head.delay("g", "head")
    behind = [apps.sibling.delay("g", key) for key in ("fails-once", "second", "third")]
    runtime = deployed.runtime()
    everyone = [head, *behind]
    assert runtime.run_until(lambda: all(_final(h) for h in everyone), 20)
    assert head.result(timeout=0) == 4
    assert [h.result(timeout=0) for h in behind] == [2, 1, 1]
    assert [c for c in apps.CALLS if c[0] == "sibling"] == [
        ("sibling", ("fails-once", 1)),
        ("sibling", ("fails-once", 2)),
        ("sibling", ("second", 1)),
        ("sibling", ("third", 1)),
    ]
    assert deployed.receive("ordered", dlq=True) == []


def _final(handle: Any) -> bool:
    record = handle.status()
    return record is not None and record.status.final


def test_one_oversized_result_fails_nothing(deployed: Deployed) -> None:
    small = apps.add.delay(1, 2)
    large = apps.big.delay(500_000)  # above DynamoDB's 400 KB item
    other = apps.add.delay(3, 4)
    records = deployed.receive("default")
    assert deployed.processor().handle({"Records": records}) == {"batchItemFailures": []}
    assert small.result(timeout=1) == 3 and other.result(timeout=1) == 7
    assert large.result(timeout=1) == "r" * 500_000
    objects = deployed.backend.clients.s3.list_objects_v2(Bucket=deployed.made.bucket)
    assert [o["Key"] for o in objects["Contents"]] == [f"results/{large.id}.json"]


def test_a_dead_letter_is_never_acknowledged_before_it_is_stored(deployed: Deployed) -> None:
    handle = apps.refuse.delay("XX")
    sqs = deployed.backend.clients.sqs
    dlq = deployed.made.dead_letter_queues["default"]
    faulty = Faulty(
        sqs,
        "send_message",
        fail_with(client_error("InternalError", "the DLQ is down", 500)),
        when=lambda params: params["QueueUrl"] == dlq,
    )
    deployed.backend.clients.use("sqs", faulty)
    [record] = deployed.receive("default")
    answer = deployed.processor().handle({"Records": [record]})
    assert _ids(answer) == [record["messageId"]]  # stays on the queue
    assert handle.status() is None or not handle.status().status.final  # type: ignore[union-attr]
    deployed.backend.clients.use("sqs", sqs)
    assert deployed.runtime().run_until(lambda: _final(handle), 15)
    [dead] = deployed.receive("default", dlq=True)
    assert decode(dead["body"]).id == handle.id
    assert _note(dead).cause == "non_retryable"
    assert apps.CALLS == [("refuse", "XX")] * 2  # run again, as its claim was released


def test_a_claim_check_in_another_bucket_is_dead_lettered_as_tampered_with(
    deployed: Deployed,
) -> None:
    s3 = deployed.backend.clients.s3
    s3.create_bucket(Bucket="someone-elses")
    envelope = apps.add.message((6, 7)).envelope
    s3.put_object(Bucket="someone-elses", Key="x.json", Body=envelope.encode())
    pointer = "s3://someone-elses/x.json"
    deployed.send_raw(
        "default",
        json.dumps({"claim_check": pointer}),
        MessageAttributes={"claim_check": {"DataType": "String", "StringValue": pointer}},
    )
    records = deployed.receive("default")
    assert deployed.processor().handle({"Records": records}) == {"batchItemFailures": []}
    assert apps.CALLS == []  # never followed
    [dead] = deployed.receive("default", dlq=True)
    note = _note(dead)
    assert note.cause == "payload"
    assert note.reason == (
        "claim check s3://someone-elses/x.json points outside the app's bucket "
        f"s3://{deployed.made.bucket} (tampered with?)"
    )


def test_a_claim_check_that_may_not_be_read_is_dead_lettered_with_its_reason(
    deployed: Deployed,
) -> None:
    big = "x" * 1_100_000
    handle = apps.size_of.delay(big)
    s3 = deployed.backend.clients.s3
    # without s3:ListBucket, S3 answers a GET of a missing object with 403 AccessDenied
    denied = Faulty(s3, "get_object", fail_with(client_error("AccessDenied", "Access Denied", 403)))
    deployed.backend.clients.use("s3", denied)
    records = deployed.receive("default")
    assert deployed.processor().handle({"Records": records}) == {"batchItemFailures": []}
    deployed.backend.clients.use("s3", s3)
    [dead] = deployed.receive("default", dlq=True)
    reason = _note(dead).reason
    assert reason.startswith(f"claim-check object s3://{deployed.made.bucket}/default/")
    assert "missing or may not be read (S3 answered AccessDenied" in reason
    assert handle.status() is None and apps.CALLS == []


def test_a_run_that_fails_after_its_revocation_is_not_retried(deployed: Deployed) -> None:
    handle = apps.revoked_midway.delay("k")
    [record] = deployed.receive("default")
    deployed.processor().handle({"Records": [record]})
    record_after = handle.status()
    assert record_after is not None and record_after.status is Status.REVOKED
    again = deployed.receive("default")  # the retry comes back at once (no backoff)...
    assert deployed.processor().handle({"Records": again}) == {"batchItemFailures": []}
    assert apps.CALLS == [("revoked_midway", "k")]  # ...and is acknowledged without running


def test_a_dead_letter_is_logged_with_its_envelope_id(
    deployed: Deployed, caplog: pytest.LogCaptureFixture
) -> None:
    handle = apps.refuse.delay("ZZ")
    records = deployed.receive("default")
    with caplog.at_level(logging.WARNING, logger="dispatcher.aws"):
        deployed.processor().handle({"Records": records})
    [line] = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert line.startswith(f"dead-lettered {handle.id} (SQS message {records[0]['messageId']})")
