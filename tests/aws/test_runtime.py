"""The local Lambda runtime: the real handler in separate processes, fed by SQS on moto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from adapters.aws.dead_letters import ATTRIBUTE, Note
from adapters.aws.producer import AwsBackend
from adapters.aws.provision import provision
from adapters.aws.runtime import (
    FunctionSettings,
    LambdaContext,
    LocalLambdaRuntime,
    function_settings,
)
from dispatcher import Status, naming
from dispatcher.receiving import SETTLE_RESERVE, batch_seconds
from samples import shop
from tests.aws import apps
from tests.aws.conftest import REGION, deploy

pytestmark = pytest.mark.emulator


def _statuses(backend: AwsBackend) -> Counter[tuple[str, str]]:
    items = backend.clients.dynamodb.scan(TableName=backend.results.table)["Items"]
    return Counter(
        (i["task"]["S"].rsplit(".", 1)[-1], i["status"]["S"])
        for i in items
        if not i["id"]["S"].startswith("dedup#")
    )


def test_the_sample_app_runs_end_to_end(aws: str) -> None:
    shop.app.use(f"aws://{REGION}")
    backend = shop.app.backend
    assert isinstance(backend, AwsBackend)
    made = provision(backend, visibility=2)
    items = [
        shop.LineItem(sku="MUG-01", quantity=2, unit_cents=500),
        shop.LineItem(sku="TEE-M", quantity=1, unit_cents=1500),
    ]
    shipped = shop.place_order.delay(shop.Order(id=3, email="a@b.c", country="DE", items=items))
    refused = shop.place_order.delay(shop.Order(id=4, email="d@e.f", country="ZZ", items=items[:1]))
    runtime = LocalLambdaRuntime(backend, "samples.shop:app")
    expected = {
        ("place_order", "succeeded"): 2,
        ("charge", "succeeded"): 2,
        ("send_receipt", "succeeded"): 2,
        ("update_stock", "succeeded"): 3,
        ("ship_order", "succeeded"): 1,
        ("ship_order", "failed"): 1,
    }
    try:
        assert runtime.run_until(lambda: _statuses(backend) == expected, timeout=30), _statuses(
            backend
        )
    finally:
        runtime.close()
        shop.app.close()
    assert shipped.result(timeout=1) == 2500 and refused.result(timeout=1) == 1000
    assert runtime.stats.left >= 1  # order 3's first charge failed and was retried
    dlq = backend.clients.sqs.receive_message(
        QueueUrl=made.dead_letter_queues["shipping"], MessageAttributeNames=["All"]
    )["Messages"]
    notes = [Note.decode(m["MessageAttributes"][ATTRIBUTE]["StringValue"]) for m in dlq]
    assert [note.reason for note in notes if note] == [
        "non-retryable error on attempt 1: NonRetryable: we do not ship to 'ZZ'"
    ]


def test_a_handler_process_killed_mid_task_loses_nothing(aws: str, tmp_path: Path) -> None:
    deployed = deploy(visibility=3)
    marker = tmp_path / "started"
    handle = apps.slow_once.delay(str(marker))
    # a short function: the dead invocation's claim lasts until its deadline
    function = function_settings(apps.app, "tests.aws.apps:app")["slow"]
    runtime = LocalLambdaRuntime(
        deployed.backend,
        "tests.aws.apps:app",
        handler="tests.aws.apps:short_claims_handler",
        functions={"slow": replace(function, timeout=4.0)},
    )

    def kill_when_started() -> None:
        deadline = time.monotonic() + 20
        while not marker.exists() or not marker.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        os.kill(int(marker.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    try:
        assert runtime.run_until(lambda: bool(handle.status() and handle.status().status.final), 20)  # type: ignore[union-attr]
    finally:
        killer.join()
        runtime.close()
    assert handle.result(timeout=1) == "done"
    assert runtime.stats.crashed == 1
    assert runtime.processes["slow"].cold_starts == 2
    assert deployed.receive("slow") == [] and deployed.receive("slow", dlq=True) == []


def test_the_event_has_the_lambda_sqs_shape(deployed: Any) -> None:
    apps.add.delay(1, 2)
    seen: list[dict[str, Any]] = []

    def invoke(queue: str, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        seen.append(event)
        return {"batchItemFailures": []}

    runtime = LocalLambdaRuntime(deployed.backend, "tests.aws.apps:app", invoke=invoke)
    assert runtime.poll("default", wait=0) == 1
    [record] = seen[0]["Records"]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == REGION
    assert record["eventSourceARN"] == f"arn:aws:sqs:{REGION}:123456789012:awstest-default"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["task"] == {
        "stringValue": "tests.aws.apps.add",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert runtime.stats.deleted == 1 and deployed.receive("default") == []


def test_importing_the_lambda_handler_is_cheap() -> None:
    code = (
        "import sys, adapters.aws.entrypoint as h; "
        "print(sorted(m for m in ('boto3', 'botocore', 'pydantic', 'typer', 'rich') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_handler_needs_the_app_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.aws import entrypoint
    from dispatcher import BackendNotConfigured

    monkeypatch.delenv(naming.APP_ENV, raising=False)
    monkeypatch.setattr(entrypoint, "_processor", None)
    with pytest.raises(BackendNotConfigured, match="set DISPATCHER_APP"):
        entrypoint.handler({"Records": []}, None)


def test_the_handler_entrypoint_runs_a_record(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.aws import entrypoint

    monkeypatch.setenv(naming.APP_ENV, "tests.aws.apps:app")
    monkeypatch.setattr(entrypoint, "_processor", None)
    handle = apps.add.delay(40, 2)
    records = deployed.receive("default")
    assert entrypoint.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert handle.result(timeout=1) == 42


def test_an_invocation_is_killed_at_the_function_timeout_and_keeps_what_was_done(
    aws: str, tmp_path: Path
) -> None:
    deployed = deploy(visibility=2)
    ran, hung = tmp_path / "ran", tmp_path / "hung"
    done = apps.quick.delay(str(ran))
    stuck = apps.stuck.delay(str(hung))
    function = function_settings(apps.app, "tests.aws.apps:app")["slow"]
    runtime = LocalLambdaRuntime(
        deployed.backend,
        "tests.aws.apps:app",
        handler="tests.aws.apps:short_claims_handler",
        functions={"slow": replace(function, timeout=4.0, batch_size=10)},
    )
    try:
        started = time.monotonic()
        assert runtime.poll("slow", wait=0) == 2
        assert 3.5 < time.monotonic() - started < 8  # killed at its timeout, as Lambda does
        assert runtime.stats.crashed == 1 and runtime.processes["slow"].cold_starts == 1
        record = done.status()  # written before the kill, while the other task hung
        assert record is not None and record.status is Status.SUCCEEDED
        assert runtime.run_until(lambda: _final(stuck), 20)
    finally:
        runtime.close()
    assert stuck.result(timeout=0) == "unstuck"
    assert ran.read_text().count("\n") == 1  # the redelivery did not run it again
    assert deployed.receive("slow") == [] and deployed.receive("slow", dlq=True) == []


def _final(handle: Any) -> bool:
    record = handle.status()
    return record is not None and record.status.final


def test_the_handler_gets_a_context_that_runs_down_to_the_function_timeout(
    deployed: Any,
) -> None:
    apps.add.delay(1, 2)
    seen: list[tuple[int, str]] = []

    def invoke(queue: str, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        seen.append((context.get_remaining_time_in_millis(), context.function_name))
        return {"batchItemFailures": []}

    functions = {"default": FunctionSettings("awstest-default", 42.0, 512, 10)}
    runtime = LocalLambdaRuntime(
        deployed.backend, "tests.aws.apps:app", invoke=invoke, functions=functions
    )
    assert runtime.poll("default", wait=0) == 1
    [(remaining, name)] = seen
    assert 41_000 < remaining <= 42_000 and name == "awstest-default"


def test_function_settings_come_from_the_deploy_policy() -> None:
    from adapters.aws.deploy.policy import POLICY
    from adapters.aws.deploy.records import EventSourceMapping, LambdaFunction
    from dispatcher.deploy.policy import plan

    decided = plan(apps.app, POLICY, "tests.aws.apps:app")
    functions = function_settings(apps.app, "tests.aws.apps:app")
    assert sorted(functions) == ["default", "ordered", "slow"]
    assert {f.timeout for f in functions.values()} == {
        float(f.timeout) for f in decided.of_type(LambdaFunction)
    }
    assert {f.batch_size for f in functions.values()} == {
        m.batch_size for m in decided.of_type(EventSourceMapping)
    }


@pytest.mark.parametrize(
    ("app", "reference"), [(apps.app, "tests.aws.apps:app"), (shop.app, "samples.shop:app")]
)
def test_a_decided_function_gives_a_full_batch_the_time_the_handler_needs(
    app: Any, reference: str
) -> None:
    from adapters.aws.deploy.policy import RESERVE_SECONDS

    assert RESERVE_SECONDS >= SETTLE_RESERVE
    for queue, function in function_settings(app, reference).items():
        timeouts = [t.options.timeout for t in app.tasks.values() if t.options.queue == queue]
        assert function.timeout >= batch_seconds(timeouts, function.batch_size), queue
