"""Create an app's AWS resources in an endpoint (moto, LocalStack, or a sandbox account), as the
AWS deploy policy decided them: each queue and its DLQ with their attributes and redrive, the
results table with TTL, the claim-check bucket with its expiry, the schedule group of long
delays. Names are resolved for the backend's stage, account and region. The rules live in
:mod:`adapters.aws.deploy.policy` only; this module carries out the same records the format
writers print. Functions, mappings, roles, policies, log groups and schedule rules are not
created: the local Lambda runtime (:mod:`adapters.aws.runtime`) and scheduler
(:mod:`adapters.aws.local_scheduler`) play them. Deployed infrastructure comes from
``dispatcher infra``; this is for local runs and tests."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.aws.deploy.policy import POLICY
from adapters.aws.deploy.records import (
    AwsPlan,
    DynamoTable,
    EventSourceMapping,
    IamRole,
    LambdaFunction,
    LogGroup,
    ManagedPolicy,
    S3Bucket,
    ScheduleGroup,
    ScheduleRule,
    SqsDeadLetterQueue,
    SqsQueue,
    SqsQueuePolicy,
)
from adapters.aws.errors import error_code, translated
from adapters.aws.scheduler import SchedulerConfig
from dispatcher.deploy.model import Delays, Queue
from dispatcher.deploy.policy import plan
from dispatcher.naming import Name

if TYPE_CHECKING:
    from adapters.aws.producer import AwsBackend


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` made: queue URLs by task queue, the table and bucket names, and
    the scheduler of long delays (its group, and the ARN its role would have)."""

    queues: dict[str, str]
    dead_letter_queues: dict[str, str]
    table: str
    bucket: str
    scheduler: SchedulerConfig


def provision(
    backend: AwsBackend, *, visibility: int | None = None, reference: str | None = None
) -> Provisioned:
    """Create (or find) every resource the backend's app uses; idempotent. ``visibility``
    replaces the decided visibility timeout (tests use a short one to see redeliveries soon);
    ``reference`` is how functions would import the app (none are created here)."""
    app = backend.app
    decided = plan(app, POLICY, reference or app.name)
    if visibility is not None:
        decided = dataclasses.replace(
            decided,
            records=[
                dataclasses.replace(r, visibility_timeout=visibility)
                if isinstance(r, SqsQueue)
                else r
                for r in decided.records
            ],
        )
    creator = Creator(backend)
    table = creator.handlers()
    for record in decided.records:
        table[type(record)](record)
    queues = {q.queue: q.name for q in decided.deployment.of_type(Queue)}
    dead = {q.queue: q.dead_letter for q in decided.deployment.of_type(Queue)}
    [delays] = decided.deployment.of_type(Delays)
    role = creator.name(decided.get(IamRole, delays.name).role_name)
    config = backend.config
    return Provisioned(
        queues={task_queue: creator.urls[name] for task_queue, name in queues.items()},
        dead_letter_queues={task_queue: creator.urls[name] for task_queue, name in dead.items()},
        table=creator.name(_only(decided, DynamoTable).table_name),
        bucket=creator.name(_only(decided, S3Bucket).bucket_name),
        scheduler=SchedulerConfig(
            group=creator.name(_only(decided, ScheduleGroup).group_name),
            role_arn=f"arn:{config.partition}:iam::{backend.names.account}:role/{role}",
        ),
    )


def _only(decided: AwsPlan, kind: type[Any]) -> Any:
    [record] = decided.of_type(kind)
    return record


@dataclass
class Creator:
    """Carries out each record against the endpoint."""

    backend: AwsBackend
    urls: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def handlers(self) -> Mapping[type, Callable[[Any], None]]:
        """The explicit table: what the emulation creates for each record type."""
        return {
            SqsDeadLetterQueue: self.queue,
            SqsQueue: self.queue,
            DynamoTable: self.table,
            S3Bucket: self.bucket,
            ScheduleGroup: self.schedule_group,
            SqsQueuePolicy: self.not_emulated,
            IamRole: self.not_emulated,
            ManagedPolicy: self.not_emulated,
            LogGroup: self.not_emulated,
            LambdaFunction: self.not_emulated,
            EventSourceMapping: self.not_emulated,
            ScheduleRule: self.not_emulated,
        }

    def not_emulated(self, record: Any) -> None:
        """Played by the local Lambda runtime and scheduler (cron rules are not run)."""

    def name(self, name: Name) -> str:
        """A decided name for the backend's stage, account and region."""
        names = self.backend.names
        if name.scoped:
            return name.resolve(names.stage, names.account, self.backend.config.region)
        return name.resolve(names.stage)

    def queue(self, record: SqsQueue | SqsDeadLetterQueue) -> None:
        name = self.name(record.queue_name)
        attributes = {"MessageRetentionPeriod": str(record.retention_seconds)}
        if record.fifo:
            attributes["FifoQueue"] = "true"
        if record.content_based_deduplication:
            attributes["ContentBasedDeduplication"] = "true"
        if record.managed_encryption:
            attributes["SqsManagedSseEnabled"] = "true"
        if isinstance(record, SqsQueue):
            attributes["VisibilityTimeout"] = str(record.visibility_timeout)
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": self.arns[record.redrive.dead_letter],
                    "maxReceiveCount": record.redrive.max_receive_count,
                }
            )
        sqs = self.backend.clients.sqs
        with translated(f"creating SQS queue {name!r}"):
            url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
            found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        self.urls[record.name], self.arns[record.name] = url, found["Attributes"]["QueueArn"]

    def table(self, record: DynamoTable) -> None:
        dynamodb = self.backend.clients.dynamodb
        name = self.name(record.table_name)
        try:
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": record.key, "KeyType": "HASH"}],
                AttributeDefinitions=[
                    {"AttributeName": record.key, "AttributeType": record.key_type}
                ],
                BillingMode=record.billing_mode,
            )
        except Exception as error:
            if error_code(error) != "ResourceInUseException":
                with translated(f"creating DynamoDB table {name!r}"):
                    raise
            return
        with translated(f"enabling TTL on DynamoDB table {name!r}"):
            dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": record.ttl_attribute},
            )

    def bucket(self, record: S3Bucket) -> None:
        s3 = self.backend.clients.s3
        name = self.name(record.bucket_name)
        region = self.backend.config.region
        location = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        try:
            s3.create_bucket(Bucket=name, **location)
        except Exception as error:
            if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                with translated(f"creating S3 bucket {name!r}"):
                    raise
        rule = {
            "ID": record.lifecycle_rule,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": record.expire_after_days},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": record.abort_multipart_after_days
            },
        }
        with translated(f"setting the lifecycle of S3 bucket {name!r}"):
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [rule]}
            )

    def schedule_group(self, record: ScheduleGroup) -> None:
        name = self.name(record.group_name)
        scheduler = self.backend.clients.get("scheduler")
        try:
            scheduler.create_schedule_group(Name=name)
        except Exception as error:
            if error_code(error) != "ConflictException":
                with translated(f"creating schedule group {name!r}"):
                    raise
