"""Sending: standard and FIFO queues, batches, delays, claim checks, clear configuration errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from adapters.aws.clients import Clients
from adapters.aws.config import AwsConfig
from adapters.aws.producer import MAX_DELAY, AwsBackend
from dispatcher import (
    BackendError,
    BackendNotConfigured,
    BatchSendError,
    Dispatcher,
    QueueNotFound,
    SendFailure,
)
from dispatcher.envelope import decode, utcnow
from tests.aws import apps
from tests.aws.conftest import Deployed
from tests.aws.faults import Faulty, client_error, fail_with

pytestmark = pytest.mark.emulator


def test_send_puts_the_envelope_with_task_and_trace_attributes(deployed: Deployed) -> None:
    handle = apps.add.delay(2, 3)
    [record] = deployed.receive("default")
    envelope = decode(record["body"])
    assert (envelope.id, envelope.task, envelope.args) == (handle.id, "tests.aws.apps.add", [2, 3])
    attributes = record["messageAttributes"]
    assert attributes["task"]["stringValue"] == "tests.aws.apps.add"
    assert attributes["traceparent"]["stringValue"] == envelope.traceparent


def test_fifo_queue_gets_group_and_dedup_ids(deployed: Deployed) -> None:
    handle = apps.append.send(args=("g1", 1), dedup_key="once")
    again = apps.append.send(args=("g1", 1), dedup_key="once")  # a duplicate: not sent
    assert again.id == handle.id
    records = deployed.receive("ordered")
    assert len(records) == 1
    assert records[0]["attributes"]["MessageGroupId"] == "g1"
    assert records[0]["attributes"]["MessageDeduplicationId"] == "once"
    assert decode(records[0]["body"]).id == handle.id


def test_a_dedup_key_is_sent_once_in_five_minutes_on_a_standard_queue(deployed: Deployed) -> None:
    first = apps.add.send(args=(1, 2), dedup_key="order-42")
    second = apps.add.send(args=(1, 2), dedup_key="order-42")
    other = apps.add.send(args=(1, 2), dedup_key="order-43")
    assert second.id == first.id != other.id
    mapped = apps.add.map([(1, 2)] * 3)  # no dedup key: three messages
    assert len({h.id for h in mapped}) == 3
    assert sorted(decode(r["body"]).id for r in deployed.receive("default")) == sorted(
        [first.id, other.id, *(h.id for h in mapped)]
    )
    assert deployed.backend.results.hold_key("x", "a", 300) == "a"
    assert deployed.backend.results.hold_key("x", "b", 300) == "a"
    deployed.backend.results.release_key("x", "b")  # not the holder: no effect
    assert deployed.backend.results.hold_key("x", "c", 300) == "a"
    deployed.backend.results.release_key("x", "a")
    assert deployed.backend.results.hold_key("x", "c", 300) == "c"


def test_an_expired_dedup_key_lets_the_next_send_through(deployed: Deployed) -> None:
    results = deployed.backend.results
    assert results.hold_key("y", "a", window=-1) == "a"  # already past its window
    assert results.hold_key("y", "b", window=300) == "b"


def test_map_sends_in_batches_of_ten_and_reports_every_message(deployed: Deployed) -> None:
    handles = apps.add.map((i, i) for i in range(25))
    assert len({h.id for h in handles}) == 25
    received: list[str] = []
    for _ in range(10):
        received += [decode(r["body"]).id for r in deployed.receive("default")]
        if len(received) == 25:
            break
    assert sorted(received) == sorted(h.id for h in handles)


def test_delay_up_to_900s_uses_delay_seconds_and_longer_ones_hop(deployed: Deployed) -> None:
    backend = deployed.backend
    target = backend.target("default")
    short = apps.add.message((1, 2), countdown=60)
    long = apps.add.message((1, 2), countdown=3 * 86_400)
    assert backend.entry(short, target)["DelaySeconds"] == 60
    assert backend.entry(long, target)["DelaySeconds"] == MAX_DELAY
    apps.add.send(args=(1, 2), countdown=3 * 86_400)
    assert deployed.counts("default")["delayed"] == 1
    assert deployed.receive("default") == []


def test_fifo_queue_takes_no_per_message_delay(deployed: Deployed) -> None:
    message = apps.append.message(("g", 1), countdown=60)
    entry = deployed.backend.entry(message, deployed.backend.target("ordered"))
    assert "DelaySeconds" not in entry


def test_a_2_mib_payload_travels_through_s3(deployed: Deployed) -> None:
    payload = "x" * (2 * 1024 * 1024)
    handle = apps.size_of.delay(payload)
    [record] = deployed.receive("default")
    pointer = record["messageAttributes"]["claim_check"]["stringValue"]
    assert pointer.startswith(f"s3://{deployed.made.bucket}/")
    assert json.loads(record["body"]) == {"claim_check": pointer}
    assert len(record["body"]) < 1000
    assert deployed.processor().handle({"Records": [record]}) == {"batchItemFailures": []}
    assert handle.result(timeout=5) == len(payload)
    s3 = deployed.backend.clients.s3
    assert s3.list_objects_v2(Bucket=deployed.made.bucket).get("KeyCount", 0) == 0


def test_a_missing_queue_is_one_clear_line(aws: str) -> None:
    apps.app.use("aws://us-east-1")  # nothing deployed
    with pytest.raises(QueueNotFound) as raised:
        apps.add.delay(1, 2)
    message = str(raised.value)
    assert "awstest-default" in message and "does not exist" in message
    assert "\n" not in message


def test_a_wrong_region_is_one_clear_line(aws: str) -> None:
    app = Dispatcher("wrong", backend="aws://moon-base")
    with pytest.raises(BackendNotConfigured, match="'moon-base' is not an AWS region"):
        _ = app.backend


def test_no_region_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(BackendNotConfigured, match="no AWS region"):
        _ = Dispatcher("noregion", backend="aws").backend


def test_no_credentials_is_one_clear_line(
    aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    app = Dispatcher("nocreds", backend="aws://us-east-1")
    app.task(queue="q")(_noop)
    with pytest.raises(BackendNotConfigured) as raised:
        app.send("tests.aws.test_producer._noop")
    assert "no AWS credentials found" in str(raised.value)
    assert "\n" not in str(raised.value)
    app.close()


def _noop() -> None:
    return None


def test_backend_spec_reads_region_and_endpoint(aws: str) -> None:
    backend = Dispatcher("spec", backend="aws://eu-west-1").backend
    assert isinstance(backend, AwsBackend)
    assert (backend.config.region, backend.config.endpoint) == ("eu-west-1", aws)


def test_eta_in_the_envelope_matches_the_countdown(deployed: Deployed) -> None:
    message = apps.add.message((1, 2), countdown=1000)
    assert message.envelope.eta is not None
    assert message.envelope.eta - utcnow() > timedelta(seconds=990)


class _HalfRefusingSqs:
    """An SQS that accepts every other entry of a batch (moto never refuses single entries)."""

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"https://sqs.test/{QueueName}"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ok = [{"Id": e["Id"], "MessageId": f"m{e['Id']}"} for e in Entries if int(e["Id"]) % 2 == 0]
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "Message": "try again", "SenderFault": False}
            for e in Entries
            if int(e["Id"]) % 2 == 1
        ]
        return {"Successful": ok, "Failed": failed}

    def close(self) -> None:
        pass


class _FakeClients(Clients):
    def _create(self, service: str) -> Any:
        return _HalfRefusingSqs()


def test_send_many_reports_each_refused_message() -> None:
    app = Dispatcher("partial", backend="memory")
    task = app.task(queue="q")(_noop)
    config = AwsConfig("us-east-1")
    backend = AwsBackend(app, config, clients=_FakeClients(config))
    messages = [task.message() for _ in range(12)]
    outcomes = backend.send_many(messages)
    assert [type(o).__name__ for o in outcomes] == ["Receipt", "SendFailure"] * 6
    failure = outcomes[1]
    assert isinstance(failure, SendFailure)
    assert (failure.id, failure.reason, failure.retryable) == (
        messages[1].envelope.id,
        "InternalError: try again",
        True,
    )
    app.use(backend)
    with pytest.raises(BatchSendError, match="6 of 12 messages not sent"):
        task.map([()] * 12)


def _bucket_keys(deployed: Deployed) -> list[str]:
    listed = deployed.backend.clients.s3.list_objects_v2(Bucket=deployed.made.bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_a_claim_checked_body_is_deleted_when_its_send_fails(deployed: Deployed) -> None:
    sqs = deployed.backend.clients.sqs
    refused = client_error("InternalError", "the queue is down", 500)
    deployed.backend.clients.use("sqs", Faulty(sqs, "send_message", fail_with(refused)))
    with pytest.raises(BackendError, match="the queue is down"):
        apps.size_of.delay("x" * 1_100_000)
    assert _bucket_keys(deployed) == []


def test_claim_checked_bodies_of_a_refused_batch_are_deleted(deployed: Deployed) -> None:
    sqs = deployed.backend.clients.sqs

    def refuse_the_large(real: Any, params: dict[str, Any]) -> Any:
        sent = [e for e in params["Entries"] if "claim_check" not in e["MessageAttributes"]]
        answer = real(**{**params, "Entries": sent})
        refused = [e for e in params["Entries"] if e not in sent]
        answer["Failed"] = [
            {"Id": e["Id"], "Code": "InternalError", "Message": "m", "SenderFault": False}
            for e in refused
        ]
        return answer

    deployed.backend.clients.use("sqs", Faulty(sqs, "send_message_batch", refuse_the_large))
    outcomes = deployed.backend.send_many(
        [apps.size_of.message(("x" * 1_100_000,)), apps.size_of.message(("small",))]
    )
    assert [type(o).__name__ for o in outcomes] == ["SendFailure", "Receipt"]
    assert _bucket_keys(deployed) == []


def test_the_sqs_client_leaves_validation_to_sqs_and_the_tests_check_shapes(
    deployed: Deployed,
) -> None:
    from botocore.exceptions import ClientError, ParamValidationError

    bad = {"QueueUrl": deployed.url("default"), "MessageBody": "x", "DelaySeconds": "9"}
    shipped = Clients(deployed.backend.config).sqs  # as the backend makes it, unchecked
    try:
        shipped.send_message(**bad)
    except ClientError:
        pass  # SQS (here moto) may refuse it: what matters is that botocore did not look
    finally:
        shipped.close()
    with pytest.raises(ParamValidationError, match="DelaySeconds"):  # the suite checks shapes
        deployed.sqs.send_message(**bad)
