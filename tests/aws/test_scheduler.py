"""Long delays on EventBridge Scheduler: the request we build, checked against the published API
model and the documented rules (moto checks none of them); the producer schedules instead of
hopping where the scheduler is deployed; ``dispatcher emulate aws`` fires due schedules."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from adapters.aws.local_scheduler import LocalScheduler
from adapters.aws.scheduler import (
    GROUP_ENV,
    MAX_INPUT,
    ROLE_ENV,
    SchedulerConfig,
    at_expression,
    create_schedule_request,
    fire_time,
    parse_at,
)
from dispatcher.errors import BackendNotConfigured
from tests.aws import apps
from tests.aws.conftest import REGION, Deployed, deploy

ACCOUNT = "123456789012"
GROUP = "awstest-delays"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/awstest-delays-role"
CONFIG = SchedulerConfig(GROUP, ROLE)
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:awstest-default"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:awstest-default-dlq"


def _shapes() -> dict[str, Any]:
    """EventBridge Scheduler's published API model (the one botocore ships)."""
    client = boto3.client(
        "scheduler", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    shapes: dict[str, Any] = client.meta.service_model._shape_resolver._shape_map
    return shapes


def _request(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "message_id": "0b6c3f8e-6c0e-4b9a-9d77-4f2b1c1e9a10",
        "body": '{"version": 1}',
        "due": datetime(2026, 11, 30, 3, 0, 17, 250_000, tzinfo=UTC),
        "queue_arn": QUEUE_ARN,
        "dead_letter_arn": DLQ_ARN,
    }
    return create_schedule_request(CONFIG, **(arguments | overrides))


def test_the_request_meets_the_api_model() -> None:
    request = _request()
    shapes = _shapes()
    required = shapes["CreateScheduleInput"]["required"]
    assert set(required) <= set(request)
    for field, shape in [
        ("Name", "Name"),
        ("GroupName", "ScheduleGroupName"),
        ("ClientToken", "ClientToken"),
    ]:
        spec = shapes[shape]
        assert spec["min"] <= len(request[field]) <= spec["max"]
        assert re.fullmatch(spec["pattern"], request[field]), (field, request[field])
    assert re.fullmatch(shapes["RoleArn"]["pattern"], request["Target"]["RoleArn"])
    assert request["FlexibleTimeWindow"]["Mode"] in shapes["FlexibleTimeWindowMode"]["enum"]
    assert request["ActionAfterCompletion"] in shapes["ActionAfterCompletion"]["enum"]
    assert len(request["Description"]) <= shapes["Description"]["max"]
    retry = request["Target"]["RetryPolicy"]
    age, attempts = shapes["MaximumEventAgeInSeconds"], shapes["MaximumRetryAttempts"]
    assert age["min"] <= retry["MaximumEventAgeInSeconds"] <= age["max"]
    assert attempts["min"] <= retry["MaximumRetryAttempts"] <= attempts["max"]


def test_the_request_follows_the_one_time_schedule_rules() -> None:
    request = _request()
    # https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#one-time
    assert re.fullmatch(r"at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)", request["ScheduleExpression"])
    assert request["ScheduleExpressionTimezone"] == "UTC"
    # 60-second precision: never before the eta, so rounded up to the next whole minute.
    assert request["ScheduleExpression"] == "at(2026-11-30T03:01:00)"
    assert request["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert request["ActionAfterCompletion"] == "DELETE"
    assert request["Target"] == {
        "Arn": QUEUE_ARN,
        "RoleArn": ROLE,
        "Input": '{"version": 1}',
        "RetryPolicy": {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185},
        "DeadLetterConfig": {"Arn": DLQ_ARN},
    }


def test_fire_times_round_up_to_the_minute() -> None:
    exact = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert fire_time(exact) == exact
    assert fire_time(exact + timedelta(microseconds=1)) == exact + timedelta(minutes=1)
    berlin = exact.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert at_expression(fire_time(berlin)) == "at(2026-11-30T03:00:00)"
    assert parse_at("at(2026-11-30T04:00:00)", "Europe/Berlin") == exact
    assert parse_at(at_expression(exact)) == exact
    with pytest.raises(ValueError, match="not a one-time expression"):
        parse_at("rate(5 minutes)")


def test_an_input_beyond_the_quota_is_refused() -> None:
    _request(body="x" * MAX_INPUT)
    with pytest.raises(ValueError, match=f"holds 1 to {MAX_INPUT} bytes"):
        _request(body="x" * (MAX_INPUT + 1))
    long_id = "m" * 100  # not a valid name: hashed
    named = _request(message_id=long_id)
    assert re.fullmatch(r"[0-9a-f]{64}", named["Name"]) and named["ClientToken"] == named["Name"]


def test_the_scheduler_is_configured_by_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GROUP_ENV, raising=False)
    monkeypatch.delenv(ROLE_ENV, raising=False)
    assert SchedulerConfig.from_environment() is None
    monkeypatch.setenv(GROUP_ENV, GROUP)
    with pytest.raises(BackendNotConfigured) as caught:
        SchedulerConfig.from_environment()
    assert str(caught.value) == (
        "DISPATCHER_AWS_SCHEDULER_ROLE is not set while DISPATCHER_AWS_SCHEDULER_GROUP is: set "
        "both (the outputs of the generated infrastructure) or neither"
    )
    monkeypatch.setenv(ROLE_ENV, "role")
    with pytest.raises(BackendNotConfigured, match="'role' is not an IAM role ARN"):
        SchedulerConfig.from_environment()
    monkeypatch.setenv(ROLE_ENV, ROLE)
    assert SchedulerConfig.from_environment() == CONFIG


@pytest.fixture
def scheduled(aws: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """The test app on moto, with the scheduler of long delays configured."""
    monkeypatch.setenv(GROUP_ENV, GROUP)
    monkeypatch.setenv(ROLE_ENV, ROLE)
    deployed = deploy(visibility=1)
    assert deployed.made.scheduler == CONFIG
    return deployed


def _schedules(endpoint: str) -> list[dict[str, Any]]:
    scheduler = boto3.client("scheduler", region_name=REGION, endpoint_url=endpoint)
    return [
        scheduler.get_schedule(GroupName=GROUP, Name=s["Name"])
        for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]
    ]


@pytest.mark.emulator
def test_a_three_day_countdown_is_one_schedule_not_hops(scheduled: Deployed, aws: str) -> None:
    handle = apps.add.send(args=(3, 4), countdown=3 * 86_400)
    [schedule] = _schedules(aws)
    assert schedule["Name"] == handle.id
    assert schedule["Target"]["Arn"] == QUEUE_ARN
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": DLQ_ARN}
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert json.loads(schedule["Target"]["Input"])["id"] == handle.id
    assert scheduled.counts("default") == {"visible": 0, "notvisible": 0, "delayed": 0}

    eta = parse_at(schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"])
    assert timedelta(0) <= eta - (datetime.now(UTC) + timedelta(days=3)) <= timedelta(minutes=1)
    scheduler = LocalScheduler(scheduled.backend.clients, GROUP, clock=lambda: eta)
    assert scheduler.tick() == 1
    assert _schedules(aws) == []
    [record] = scheduled.receive("default")
    processor = scheduled.processor(clock=lambda: eta.timestamp())
    assert processor.handle({"Records": [record]}) == {"batchItemFailures": []}
    assert apps.CALLS == [("add", (3, 4))]


@pytest.mark.emulator
def test_a_schedule_not_due_yet_is_not_fired(scheduled: Deployed, aws: str) -> None:
    apps.add.send(args=(1, 1), countdown=2 * 86_400)
    scheduler = LocalScheduler(scheduled.backend.clients, GROUP)
    assert scheduler.tick() == 0
    assert len(_schedules(aws)) == 1 and scheduled.receive("default") == []


@pytest.mark.emulator
def test_batches_schedule_their_long_delays(scheduled: Deployed, aws: str) -> None:
    messages = [apps.add.message(call, countdown=7200) for call in [(1, 2), (3, 4)]]
    messages.append(apps.add.message((5, 6), countdown=60))
    *handles, soon = apps.app.send_messages(apps.add, messages)
    assert {s["Name"] for s in _schedules(aws)} == {h.id for h in handles}
    assert scheduled.counts("default")["delayed"] == 1 and soon.id not in {
        s["Name"] for s in _schedules(aws)
    }


@pytest.mark.emulator
def test_what_the_scheduler_cannot_carry_keeps_the_hops(scheduled: Deployed, aws: str) -> None:
    apps.append.send(args=("g", 1), countdown=3600)  # ordered: no per-message delay on FIFO
    scheduled.backend.max_message_size = 512  # claim-checked: its attribute cannot travel
    apps.size_of.send(args=("x" * 2048,), countdown=3600)
    assert _schedules(aws) == []
    assert scheduled.counts("default")["delayed"] == 1
    assert scheduled.counts("ordered")["visible"] == 1


@pytest.mark.emulator
def test_without_the_scheduler_long_delays_hop(deployed: Deployed, aws: str) -> None:
    apps.add.send(args=(1, 2), countdown=3 * 86_400)
    assert deployed.counts("default")["delayed"] == 1
    scheduler = boto3.client("scheduler", region_name=REGION, endpoint_url=aws)
    assert scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


@pytest.fixture
def emulator(aws: str) -> Iterator[subprocess.Popen[str]]:
    """``dispatcher emulate aws`` on the test app, until the test ends."""
    command = [sys.executable, "-m", "dispatcher.cli", "emulate", "aws", "tests.aws.apps:app"]
    process = subprocess.Popen(
        [*command, "--wait", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "Ctrl-C stops" in line:
                break
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.emulator
@pytest.mark.slow
def test_emulate_aws_fires_due_schedules(aws: str, emulator: subprocess.Popen[str]) -> None:
    apps.app.use(f"aws://{REGION}")
    message = apps.add.message((20, 22))
    scheduler = boto3.client("scheduler", region_name=REGION, endpoint_url=aws)
    request = create_schedule_request(
        CONFIG,
        message_id=message.envelope.id,
        body=message.body.decode(),
        due=datetime.now(UTC) - timedelta(minutes=1),
        queue_arn=QUEUE_ARN,
        dead_letter_arn=DLQ_ARN,
    )
    scheduler.create_schedule(**request)
    handle = apps.app.handle(message.envelope.id)
    assert handle.result(timeout=20) == 42
    deadline = time.monotonic() + 10
    while _schedules(aws) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _schedules(aws) == []


@pytest.mark.emulator
@pytest.mark.slow
def test_emulate_aws_tells_the_handlers_and_the_user_the_scheduler(aws: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "emulate", "aws", "tests.aws.apps:app"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    hint = next(line for line in lines if line.startswith("send with:"))
    assert f"{GROUP_ENV}={GROUP} {ROLE_ENV}={ROLE}" in hint
    assert f"schedule group {GROUP}" in "".join(lines)
