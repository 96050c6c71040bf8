"""The DynamoDB result store on moto: claims that count runs and recognise their own token, a
refused claim that costs one call, results that never replace a final record, and batches
in which one bad result fails alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.aws.config import AwsConfig
from adapters.aws.errors import AmbiguousWrite
from adapters.aws.lite import LiteClients
from adapters.aws.results import DynamoResults
from dispatcher import Claim, Granted, Status, TaskResult
from tests.aws.conftest import REGION, Deployed
from tests.aws.faults import Faulty

pytestmark = pytest.mark.emulator


def _result(task_id: str, status: Status, value: Any = None, attempt: int = 1) -> TaskResult:
    return TaskResult(
        id=task_id,
        task="tests.aws.apps.add",
        status=status,
        value=value,
        attempt=attempt,
        updated_at=datetime.now(UTC),
    )


def _store(deployed: Deployed, dynamodb: Any = None) -> DynamoResults:
    backend = deployed.backend
    if dynamodb is not None:
        backend.clients.use("dynamodb", dynamodb)
    return DynamoResults(
        backend.clients, backend.results.table, payloads=lambda: backend.claim_checks
    )


def test_a_claim_counts_the_runs_of_an_invocation(deployed: Deployed) -> None:
    now = [1_000_000.0]
    store = DynamoResults(
        deployed.backend.clients, deployed.backend.results.table, clock=lambda: now[0]
    )
    assert store.claim("t1", "task", 1, lease=60) == Granted(1)
    assert store.claim("t1", "task", 1, lease=60) is Claim.BUSY  # held: no run, no count
    store.save(_result("t1", Status.RETRYING))
    assert store.claim("t1", "task", 1, lease=60) == Granted(2)
    now[0] += 61  # that run was killed: its claim ran out, and it counts
    assert store.claim("t1", "task", 1, lease=60) == Granted(3)
    store.save(_result("t1", Status.SUCCEEDED, 7, attempt=3))
    assert store.claim("t1", "task", 1, lease=60) is Claim.DONE
    record = store.get("t1")
    assert record is not None and (record.status, record.value) == (Status.SUCCEEDED, 7)


def test_a_refused_claim_costs_one_call(deployed: Deployed) -> None:
    counting = Faulty(deployed.backend.clients.dynamodb, "none", lambda real, params: None)
    store = _store(deployed, counting)
    store.claim("t1", "task", 1, lease=60)
    counting.calls.clear()
    assert store.claim("t1", "task", 1, lease=60) is Claim.BUSY
    store.save(_result("t1", Status.SUCCEEDED, 1))
    counting.calls.clear()
    assert store.claim("t1", "task", 1, lease=60) is Claim.DONE
    assert counting.calls == ["put_item"]  # the refusal returned the item: no GetItem


def test_a_claim_whose_answer_was_lost_is_recognised_as_ours(deployed: Deployed) -> None:
    def carried_out_then_lost(real: Any, params: dict[str, Any]) -> Any:
        real(**params)
        raise AmbiguousWrite("UpdateItem may or may not have been carried out")

    lost = Faulty(deployed.backend.clients.dynamodb, "put_item", carried_out_then_lost)
    store = _store(deployed, lost)
    assert store.claim("t1", "task", 1, lease=60) == Granted(1)
    assert lost.calls == ["put_item", "get_item"]  # read again, not sent again


def test_a_claim_the_sdk_sent_again_after_a_lost_answer_is_recognised(
    deployed: Deployed,
) -> None:
    def sent_twice(real: Any, params: dict[str, Any]) -> Any:
        real(**params)  # carried out; its answer lost, botocore sends the same request again
        return real(**params)

    replayed = Faulty(deployed.backend.clients.dynamodb, "put_item", sent_twice, times=2)
    store = _store(deployed, replayed)
    assert store.claim("t1", "task", 1, lease=60) == Granted(1)
    assert store.claim("t2", "task", 1, lease=60) == Granted(1)


def test_a_lost_claim_that_never_happened_is_claimed_again(deployed: Deployed) -> None:
    def lost_before_arriving(real: Any, params: dict[str, Any]) -> Any:
        raise AmbiguousWrite("the connection dropped")

    lost = Faulty(deployed.backend.clients.dynamodb, "put_item", lost_before_arriving)
    assert _store(deployed, lost).claim("t1", "task", 1, lease=60) == Granted(1)
    assert lost.calls == ["put_item", "get_item", "put_item"]


def test_a_result_never_replaces_a_final_record(deployed: Deployed) -> None:
    store = _store(deployed)
    store.save(_result("t1", Status.SUCCEEDED, 42))
    deployed.backend.revoke("t1", "tests.aws.apps.add")  # too late: it succeeded
    store.save(_result("t1", Status.RETRYING))
    store.save(_result("t1", Status.FAILED))
    record = store.get("t1")
    assert record is not None and (record.status, record.value) == (Status.SUCCEEDED, 42)
    deployed.backend.revoke("t2", "tests.aws.apps.add")
    store.save(_result("t2", Status.SUCCEEDED, 1))  # not a claim of ours: conditional
    revoked = store.get("t2")
    assert revoked is not None and revoked.status is Status.REVOKED


def test_a_batch_writes_live_claims_at_once_and_fails_only_a_bad_record(
    deployed: Deployed,
) -> None:
    counting = Faulty(deployed.backend.clients.dynamodb, "none", lambda real, params: None)
    store = _store(deployed, counting)
    for task_id in ("a", "b", "c"):
        store.claim(task_id, "task", 1, lease=60)
    counting.calls.clear()
    assert store.write([_result(i, Status.SUCCEEDED, i) for i in ("a", "b", "c")]) == {}
    assert counting.calls == ["batch_write_item"]
    store.claim("d", "task", 1, lease=60)
    store._held[""] = store._held["d"]  # an item the table rejects (an empty key), in the batch
    counting.calls.clear()
    failed = store.write([_result("d", Status.SUCCEEDED, 4), _result("", Status.SUCCEEDED, 5)])
    assert list(failed) == [""]
    assert counting.calls == ["batch_write_item", "put_item", "put_item"]  # then one by one
    record = store.get("d")
    assert record is not None and record.value == 4


def test_a_value_too_large_for_an_item_fails_alone_without_a_bucket(deployed: Deployed) -> None:
    store = DynamoResults(deployed.backend.clients, deployed.backend.results.table)
    for task_id in ("small", "large"):
        store.claim(task_id, "task", 1, lease=60)
    failed = store.write(
        [_result("small", Status.SUCCEEDED, 1), _result("large", Status.SUCCEEDED, "x" * 500_000)]
    )
    assert list(failed) == ["large"] and "too large for DynamoDB" in str(failed["large"])
    record = store.get("small")
    assert record is not None and record.value == 1


def test_lite_and_boto3_clients_read_the_same_records(deployed: Deployed) -> None:
    config = AwsConfig.from_spec(f"aws://{REGION}")
    lite = DynamoResults(LiteClients(config), deployed.backend.results.table)
    assert lite.claim("t1", "task", 1, lease=60) == Granted(1)
    assert deployed.backend.results.claim("t1", "task", 1, lease=60) is Claim.BUSY
    lite.save(_result("t1", Status.SUCCEEDED, [1, 2]))
    record = deployed.backend.results.get("t1")
    assert record is not None and record.value == [1, 2]


def test_two_deliveries_claiming_the_same_retry_cannot_both_run_it(deployed: Deployed) -> None:
    other = _store(deployed)
    other.claim("t1", "task", 1, lease=60)
    other.save(_result("t1", Status.RETRYING))
    rival: list[Claim | Granted] = []

    def rival_first(real: Any, params: dict[str, Any]) -> Any:
        rival.append(other.claim("t1", "task", 1, lease=60))  # claims between our read...
        return real(**params)  # ...and our write, which now finds the count moved on

    racing = Faulty(
        deployed.backend.clients.dynamodb,
        "put_item",
        rival_first,
        when=lambda params: "#attempt = :seen" in params["ConditionExpression"],
    )
    assert _store(deployed, racing).claim("t1", "task", 1, lease=60) is Claim.BUSY
    assert rival == [Granted(2)]
