"""``dispatcher emulate aws`` creates what the deploy policy decided, on a moto server: the same
records the generated infrastructure prints, not a second copy of the rules."""

from __future__ import annotations

import json

import boto3
import pytest

from adapters.aws.deploy.policy import POLICY
from adapters.aws.deploy.records import (
    DynamoTable,
    S3Bucket,
    ScheduleGroup,
    SqsDeadLetterQueue,
    SqsQueue,
)
from adapters.aws.producer import AwsBackend
from adapters.aws.provision import provision
from dispatcher.deploy.policy import plan
from tests.aws.apps import app

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's


@pytest.mark.emulator
@pytest.mark.parametrize("stage", [None, "dev"], ids=["no stage", "stage dev"])
def test_provision_creates_the_decided_resources(
    moto: str, monkeypatch: pytest.MonkeyPatch, stage: str | None
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setenv("AWS_REGION", REGION)
    if stage:
        monkeypatch.setenv("DISPATCHER_STAGE", stage)
    app.use(f"aws://{REGION}")
    try:
        backend = app.backend
        assert isinstance(backend, AwsBackend)
        made = provision(backend, reference="tests.aws.apps:app")
        again = provision(backend, reference="tests.aws.apps:app")  # idempotent
    finally:
        app.close()
    assert again == made
    decided = plan(app, POLICY, "tests.aws.apps:app")
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto)
    for queue in decided.of_type(SqsQueue):
        url = made.queues[queue.name]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert url.endswith(f"/{queue.queue_name.resolve(stage)}")
        assert int(attributes["VisibilityTimeout"]) == queue.visibility_timeout
        assert int(attributes["MessageRetentionPeriod"]) == queue.retention_seconds
        assert (attributes.get("FifoQueue") == "true") is queue.fifo
        redrive = json.loads(attributes["RedrivePolicy"])
        assert int(redrive["maxReceiveCount"]) == queue.redrive.max_receive_count
        dlq = decided.get(SqsDeadLetterQueue, queue.redrive.dead_letter)
        dlq_url = made.dead_letter_queues[queue.name]
        dlq_attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])[
            "Attributes"
        ]
        assert redrive["deadLetterTargetArn"] == dlq_attributes["QueueArn"]
        assert int(dlq_attributes["MessageRetentionPeriod"]) == dlq.retention_seconds

    [table] = decided.of_type(DynamoTable)
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto)
    ttl = dynamodb.describe_time_to_live(TableName=made.table)["TimeToLiveDescription"]
    assert made.table == table.table_name.resolve(stage)
    assert ttl["AttributeName"] == table.ttl_attribute
    assert ttl["TimeToLiveStatus"] == "ENABLED"

    [bucket] = decided.of_type(S3Bucket)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto)
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=made.bucket)["Rules"]
    assert made.bucket == bucket.bucket_name.resolve(stage, ACCOUNT, REGION)
    assert made.bucket == f"awstest{'-' + stage if stage else ''}-claims-{ACCOUNT}-{REGION}"
    assert rule["Expiration"]["Days"] == bucket.expire_after_days

    [group] = decided.of_type(ScheduleGroup)
    scheduler = boto3.client("scheduler", region_name=REGION, endpoint_url=moto)
    assert made.scheduler.group == group.group_name.resolve(stage)
    assert scheduler.get_schedule_group(Name=made.scheduler.group)["Name"] == made.scheduler.group
    role = f"awstest{'-' + stage if stage else ''}-delays-role"
    assert made.scheduler.role_arn == f"arn:aws:iam::{ACCOUNT}:role/{role}"


@pytest.mark.emulator
def test_a_shorter_visibility_for_tests_replaces_only_that_value(
    moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setenv("AWS_REGION", REGION)
    app.use(f"aws://{REGION}")
    try:
        backend = app.backend
        assert isinstance(backend, AwsBackend)
        made = provision(backend, visibility=2)
    finally:
        app.close()
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto)
    attributes = sqs.get_queue_attributes(QueueUrl=made.queues["default"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "2"
    decided = plan(app, POLICY, "tests.aws.apps:app").get(SqsQueue, "default")
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == decided.redrive.max_receive_count
    assert int(attributes["MessageRetentionPeriod"]) == decided.retention_seconds
