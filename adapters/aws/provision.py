"""Create an app's AWS resources in an endpoint (moto, LocalStack, or a sandbox account):
each queue and its DLQ with a redrive policy, the results table with TTL, the claim-check
bucket. Deployed infrastructure comes from the generators; this is for local runs and tests."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.aws.errors import error_code, translated
from adapters.aws.results import TTL_ATTRIBUTE
from dispatcher import naming

if TYPE_CHECKING:
    from adapters.aws.producer import AwsBackend
    from dispatcher.app import QueueSpec

#: Deliveries before SQS itself moves a message to the DLQ, beyond the task's own attempts
#: (the handler dead-letters at once; this is the backstop for crashes and busy claims).
REDRIVE_MARGIN = 5


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` made: queue URLs by task queue, and the table and bucket names."""

    queues: dict[str, str]
    dead_letter_queues: dict[str, str]
    table: str
    bucket: str


def visibility_timeout(spec: QueueSpec) -> int:
    """The queue's visibility timeout: six times the longest task timeout, as AWS advises
    for Lambda event sources (at least 30 s, at most 12 h)."""
    return min(43_200, max(30, math.ceil(spec.timeout) * 6))


def provision(backend: AwsBackend, *, visibility: int | None = None) -> Provisioned:
    """Create (or find) every resource the backend's app uses; idempotent."""
    app = backend.app
    sqs = backend.clients.sqs
    queues: dict[str, str] = {}
    dead: dict[str, str] = {}
    for name, spec in app.queues.items():
        attempts = max(app.tasks[t].options.retry.attempts for t in spec.tasks)
        fifo = {"FifoQueue": "true"} if spec.ordered else {}
        dlq_name = naming.dead_letter_queue_name(app.name, name, spec.ordered)
        with translated(f"creating SQS queue {dlq_name!r}"):
            dlq_url = sqs.create_queue(
                QueueName=dlq_name, Attributes={**fifo, "MessageRetentionPeriod": "1209600"}
            )["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        queue_name = naming.queue_name(app.name, name, spec.ordered)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": attempts + REDRIVE_MARGIN}
        with translated(f"creating SQS queue {queue_name!r}"):
            url = sqs.create_queue(
                QueueName=queue_name,
                Attributes={
                    **fifo,
                    "VisibilityTimeout": str(visibility or visibility_timeout(spec)),
                    "RedrivePolicy": json.dumps(redrive),
                },
            )["QueueUrl"]
        queues[name], dead[name] = str(url), str(dlq_url)
    table = naming.results_table_name(app.name)
    _create_table(backend, table)
    bucket = naming.claim_check_bucket_name(app.name)
    _create_bucket(backend, bucket)
    return Provisioned(queues, dead, table, bucket)


def _create_table(backend: AwsBackend, table: str) -> None:
    dynamodb = backend.clients.dynamodb
    try:
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except Exception as error:
        if error_code(error) != "ResourceInUseException":
            with translated(f"creating DynamoDB table {table!r}"):
                raise
        return
    with translated(f"enabling TTL on DynamoDB table {table!r}"):
        dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )


def _create_bucket(backend: AwsBackend, bucket: str) -> None:
    s3 = backend.clients.s3
    region = backend.config.region
    location = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    try:
        s3.create_bucket(Bucket=bucket, **location)
    except Exception as error:
        if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            with translated(f"creating S3 bucket {bucket!r}"):
                raise
