"""AWS translation of the neutral resource model: CloudFormation, SAM, serverless.yml, Terraform.

Queues are SQS queues with a redrive to their DLQ, workers are Lambda functions fed by SQS event
source mappings (ReportBatchItemFailures), results live in DynamoDB (TTL), large bodies in S3
(lifecycle expiry), schedules are EventBridge rules that put a fresh envelope on the task's queue
(the event's id and time become the envelope's ``id`` and ``created_at``), and each worker has its
own IAM role limited to the app's queues, its table, its bucket and its log group.

Checks that checkov reports and that do not fit a task queue are skipped in the generated files
with the reason (``SKIPS``); everything else it asks for is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from dispatcher.deploy.hcl import Attribute, Block, Comment, Expr, Item, Value, document, value
from dispatcher.deploy.model import (
    DeadLetterQueue,
    Deployment,
    Identity,
    PayloadStore,
    Queue,
    Resource,
    ResultStore,
    Schedule,
    Trigger,
    Worker,
)
from dispatcher.deploy.provider import DAY, Limits, Provider
from dispatcher.deploy.render import Renderer
from dispatcher.deploy.text import render_template, to_yaml

AWS_LIMITS = Limits(
    min_memory_mb=128,
    max_memory_mb=10_240,
    max_timeout_seconds=900,
    visibility_timeout_factor=6,
    max_visibility_timeout_seconds=43_200,
    default_retention_seconds=4 * DAY,
    max_retention_seconds=14 * DAY,
    dead_letter_retention_seconds=14 * DAY,
    max_batch_size=10_000,
    max_ordered_batch_size=10,
    ordered_batching_window=False,
    max_unwindowed_batch_size=10,
    max_batching_window_seconds=300,
    min_trigger_concurrency=2,
    max_trigger_concurrency=1000,
    cron_day_fields_exclusive=True,
)

#: The AWS profile the builder uses.
AWS = Provider(
    name="aws",
    function_kind="AWS Lambda function",
    limits=AWS_LIMITS,
    entrypoint="adapters.aws.entrypoint.handler",
    runtime="python3.11",
    backend_spec="aws",
)

LOG_RETENTION_DAYS = 30
PARTIAL_FAILURES = "ReportBatchItemFailures"

#: checkov checks skipped in the generated files, by the kind of resource, with the reason.
SKIPS: dict[str, dict[str, str]] = {
    "queue": {
        "CKV_AWS_27": "encrypted with SQS-managed SSE; a customer KMS key would also have to be "
        "granted to EventBridge and every producer",
    },
    "function": {
        "CKV_AWS_116": "fed by an SQS event source mapping, whose redrive policy is the "
        "dead-letter queue; nothing invokes it asynchronously",
        "CKV_AWS_117": "talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources",
        "CKV_AWS_173": "the environment holds only the app reference and backend name, no secrets",
        "CKV_AWS_272": "the package is built by `dispatcher package`; code signing is the "
        "deployer's choice",
        "CKV_AWS_115": "concurrency is limited per queue by the event source mapping's maximum "
        "concurrency where the task declares one",
        "CKV_AWS_50": "X-Ray tracing is left to the deployer; the envelope carries W3C trace "
        "context",
    },
    "log_group": {
        "CKV_AWS_158": "CloudWatch Logs encrypts log data by default; no customer KMS key",
        "CKV_AWS_338": "30 days of worker logs are kept; results live in the results table",
    },
    "bucket": {
        "CKV_AWS_18": "claim-check objects live minutes to days; access logs would outlive them",
        "CKV_AWS_21": "claim-check objects are written once and deleted; versions would keep "
        "deleted payloads",
        "CKV_AWS_144": "claim checks are transient message bodies; replication adds no safety",
        "CKV_AWS_145": "encrypted with S3-managed keys (SSE-S3)",
        "CKV2_AWS_62": "nothing reacts to claim-check objects; the message carries the pointer",
    },
    "table": {
        "CKV_AWS_119": "encrypted with the AWS-owned key; a customer KMS key is the "
        "deployer's choice",
    },
}


# --- names -----------------------------------------------------------------------------------


def camel(name: str) -> str:
    """``order-events`` -> ``OrderEvents``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def snake(name: str) -> str:
    """``order-events`` -> ``order_events``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def logical_id(resource: Resource) -> str:
    """The CloudFormation logical id of a model resource."""
    suffix = {
        Queue: "Queue",
        DeadLetterQueue: "",
        Worker: "",
        Identity: "Role",
        Trigger: "",
        Schedule: "",
        ResultStore: "Table",
        PayloadStore: "Bucket",
    }[type(resource)]
    return camel(resource.name) + suffix


def log_group_name(worker: Worker) -> str:
    """The function's log group, which Lambda writes to."""
    return f"/aws/lambda/{worker.physical_name}"


def schedule_expression(schedule: Schedule) -> str:
    """``rate(5 minutes)`` or ``cron(0 3 * * ? *)`` for an EventBridge rule."""
    if schedule.schedule == "rate":
        seconds = schedule.every_seconds or 60
        for unit, size in (("day", DAY), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                count = seconds // size
                return f"rate({count} {unit}{'s' if count != 1 else ''})"
    minute, hour, day, month, weekday = schedule.expression.split()
    if weekday in ("*", "?"):
        weekday = "?"
    elif day in ("*", "?"):
        day = "?"
    return f"cron({minute} {hour} {day} {month} {_aws_weekday(weekday)} *)"


def _aws_weekday(field: str) -> str:
    """Cron counts Sunday as 0 (or 7), EventBridge as 1: shift the numbers, not the steps."""

    def shift(part: str) -> str:
        base, slash, step = part.partition("/")
        base = re.sub(r"\d+", lambda m: str(int(m.group()) % 7 + 1), base)
        return base + slash + step

    return ",".join(shift(part) for part in field.split(","))


def envelope_template(task: str) -> str:
    """The EventBridge input template of a scheduled task: a version-1 envelope."""
    return json.dumps(
        {"version": 1, "id": "<id>", "task": task, "created_at": "<time>"}, separators=(", ", ": ")
    )


# --- CloudFormation --------------------------------------------------------------------------

Fragment = list[tuple[str, str, Any]]
"""(section, key, value) entries: ``Resources``, ``Outputs``, or a renderer's own sections."""


def _ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def _arn(logical: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical, "Arn"]}


def _skips(*kinds: str) -> dict[str, Any]:
    return {
        "checkov": {
            "skip": [
                {"id": check, "comment": reason}
                for kind in kinds
                for check, reason in SKIPS[kind].items()
            ]
        }
    }


def _queue_properties(
    physical: str, ordered: bool, retention: int, visibility: int | None = None
) -> dict[str, Any]:
    properties: dict[str, Any] = {"QueueName": physical}
    if ordered:
        properties |= {"FifoQueue": True, "ContentBasedDeduplication": True}
    if visibility is not None:
        properties["VisibilityTimeout"] = visibility
    properties |= {"MessageRetentionPeriod": retention, "SqsManagedSseEnabled": True}
    return properties


class CloudFormationResources:
    """Translations of each model resource into CloudFormation resources (plain dicts)."""

    def handlers(self) -> dict[type[Resource], Callable[[Any, Deployment], Fragment]]:
        """The explicit table of translations."""
        return {
            DeadLetterQueue: self.dead_letter_queue,
            Queue: self.queue,
            ResultStore: self.result_store,
            PayloadStore: self.payload_store,
            Identity: self.identity,
            Worker: self.worker,
            Trigger: self.trigger,
            Schedule: self.schedule,
        }

    def dead_letter_queue(self, dlq: DeadLetterQueue, deployment: Deployment) -> Fragment:
        """An SQS queue kept for 14 days."""
        resource = {
            "Type": "AWS::SQS::Queue",
            "Metadata": _skips("queue"),
            "Properties": _queue_properties(dlq.physical_name, dlq.ordered, dlq.retention_seconds),
        }
        return [("Resources", logical_id(dlq), resource)]

    def queue(self, queue: Queue, deployment: Deployment) -> Fragment:
        """An SQS queue with its redrive policy, and the policy letting its schedules send."""
        dlq = deployment.get(queue.dead_letter)
        properties = _queue_properties(
            queue.physical_name,
            queue.ordered,
            queue.retention_seconds,
            queue.visibility_timeout_seconds,
        )
        properties["RedrivePolicy"] = {
            "deadLetterTargetArn": _arn(logical_id(dlq)),
            "maxReceiveCount": queue.max_receive_count,
        }
        logical = logical_id(queue)
        out: Fragment = [
            (
                "Resources",
                logical,
                {"Type": "AWS::SQS::Queue", "Metadata": _skips("queue"), "Properties": properties},
            ),
            (
                "Outputs",
                f"{logical}Url",
                {"Description": f"URL of {queue.physical_name}", "Value": _ref(logical)},
            ),
        ]
        schedules = [s for s in deployment.of_type(Schedule) if s.queue == queue.name]
        if schedules:
            statements = [
                {
                    "Sid": f"Schedule{camel(s.name)}",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": _arn(logical),
                    "Condition": {"ArnEquals": {"aws:SourceArn": _arn(logical_id(s))}},
                }
                for s in schedules
            ]
            policy = {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [_ref(logical)],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                },
            }
            out.append(("Resources", f"{logical}Policy", policy))
        return out

    def result_store(self, store: ResultStore, deployment: Deployment) -> Fragment:
        """An on-demand DynamoDB table with TTL and point-in-time recovery."""
        resource = {
            "Type": "AWS::DynamoDB::Table",
            "Metadata": _skips("table"),
            "Properties": {
                "TableName": store.physical_name,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": store.key, "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": store.key, "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": store.ttl_attribute, "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
        }
        return [("Resources", logical_id(store), resource)]

    def payload_store(self, store: PayloadStore, deployment: Deployment) -> Fragment:
        """A private, encrypted S3 bucket whose objects expire."""
        resource = {
            "Type": "AWS::S3::Bucket",
            "Metadata": _skips("bucket"),
            "Properties": {
                "BucketName": store.physical_name,
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "expire-claim-checks",
                            "Status": "Enabled",
                            "ExpirationInDays": store.expire_after_days,
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        }
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            },
        }
        return [("Resources", logical_id(store), resource)]

    def identity(self, identity: Identity, deployment: Deployment) -> Fragment:
        """An IAM role Lambda assumes, with one inline least-privilege policy."""
        resource = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "dispatcher-worker",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": policy_statements(identity, deployment, _cfn_arns),
                        },
                    }
                ],
            },
        }
        return [("Resources", logical_id(identity), resource)]

    def worker(self, worker: Worker, deployment: Deployment) -> Fragment:
        """The Lambda function and its log group."""
        logical = logical_id(worker)
        return [
            ("Resources", f"{logical}LogGroup", self.log_group(worker)),
            ("Resources", logical, self.function(worker, deployment, logical)),
        ]

    def log_group(self, worker: Worker) -> dict[str, Any]:
        """The function's log group, with a retention."""
        return {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": _skips("log_group"),
            "Properties": {
                "LogGroupName": log_group_name(worker),
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }

    def function(self, worker: Worker, deployment: Deployment, logical: str) -> dict[str, Any]:
        """The ``AWS::Lambda::Function`` itself."""
        properties: dict[str, Any] = {
            "FunctionName": worker.physical_name,
            "Description": f"Runs the tasks of queue {worker.queue}: {', '.join(worker.tasks)}",
            "Runtime": worker.runtime,
            "Handler": worker.entrypoint,
            "Code": {"S3Bucket": _ref("CodeBucket"), "S3Key": _ref("CodeKey")},
            "MemorySize": worker.memory_mb,
            "Timeout": worker.timeout_seconds,
            "Role": _arn(logical_id(deployment.get(worker.identity))),
            "Environment": {"Variables": dict(worker.environment)},
        }
        if worker.reserved_concurrency is not None:
            properties["ReservedConcurrentExecutions"] = worker.reserved_concurrency
        return {
            "Type": "AWS::Lambda::Function",
            "DependsOn": [f"{logical}LogGroup"],
            "Metadata": _skips("function"),
            "Properties": properties,
        }

    def trigger(self, trigger: Trigger, deployment: Deployment) -> Fragment:
        """The SQS event source mapping."""
        properties: dict[str, Any] = {
            "EventSourceArn": _arn(logical_id(deployment.get(trigger.queue))),
            "FunctionName": _ref(logical_id(deployment.get(trigger.worker))),
            **_trigger_settings(trigger, deployment),
            "Enabled": True,
        }
        resource = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": properties}
        return [("Resources", logical_id(trigger), resource)]

    def schedule(self, schedule: Schedule, deployment: Deployment) -> Fragment:
        """An EventBridge rule sending a fresh envelope to the task's queue."""
        queue = deployment.get(schedule.queue)
        assert isinstance(queue, Queue)
        target: dict[str, Any] = {
            "Id": "queue",
            "Arn": _arn(logical_id(queue)),
            "InputTransformer": {
                "InputPathsMap": {"id": "$.id", "time": "$.time"},
                "InputTemplate": envelope_template(schedule.task),
            },
        }
        if queue.ordered:
            target["SqsParameters"] = {"MessageGroupId": schedule.task}
        resource = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": f"Runs {schedule.task} on {schedule.expression!r} (UTC)",
                "ScheduleExpression": schedule_expression(schedule),
                "State": "ENABLED",
                "Targets": [target],
            },
        }
        return [("Resources", logical_id(schedule), resource)]


def _trigger_settings(trigger: Trigger, deployment: Deployment) -> dict[str, Any]:
    """Batch size, window, partial failures and maximum concurrency, in CloudFormation's keys."""
    queue = deployment.get(trigger.queue)
    settings: dict[str, Any] = {"BatchSize": trigger.batch_size}
    if not (isinstance(queue, Queue) and queue.ordered):
        settings["MaximumBatchingWindowInSeconds"] = trigger.batching_window_seconds
    if trigger.partial_failures:
        settings["FunctionResponseTypes"] = [PARTIAL_FAILURES]
    if trigger.max_concurrency is not None:
        settings["ScalingConfig"] = {"MaximumConcurrency": trigger.max_concurrency}
    return settings


def _cfn_arns(resource: Resource, deployment: Deployment) -> list[Any]:
    """The ARNs a grant on ``resource`` covers, as CloudFormation values."""
    if isinstance(resource, Worker):
        return [
            {
                "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                f"{log_group_name(resource)}:*"
            }
        ]
    arn = _arn(logical_id(resource))
    if isinstance(resource, PayloadStore):
        return [arn, {"Fn::Sub": f"${{{logical_id(resource)}.Arn}}/*"}]
    return [arn]


ACTIONS: dict[tuple[type[Resource], str], list[str]] = {
    (Queue, "consume"): [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    ],
    (Queue, "send"): ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
    (DeadLetterQueue, "send"): ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
    (ResultStore, "read_write"): [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
    ],
    (PayloadStore, "read_write"): ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
    (Worker, "write_logs"): ["logs:CreateLogStream", "logs:PutLogEvents"],
}


def policy_statements(
    identity: Identity,
    deployment: Deployment,
    arns: Callable[[Resource, Deployment], list[Any]],
) -> list[dict[str, Any]]:
    """One IAM statement per distinct set of actions, naming every resource it applies to."""
    grouped: dict[tuple[str, ...], list[Any]] = {}
    for grant in identity.grants:
        resource = deployment.get(grant.resource)
        actions = ACTIONS.get((type(resource), grant.access))
        if actions is None:
            raise ValueError(f"no IAM actions for {grant.access} on {type(resource).__name__}")
        grouped.setdefault(tuple(actions), []).extend(arns(resource, deployment))
    return [
        {"Effect": "Allow", "Action": list(actions), "Resource": resources}
        for actions, resources in grouped.items()
    ]


def _merge(fragments: list[Fragment]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {}
    for fragment in fragments:
        for section, key, item in fragment:
            sections.setdefault(section, {})[key] = item
    return sections


def _parameters() -> dict[str, Any]:
    return {
        "CodeBucket": {
            "Type": "String",
            "Description": "S3 bucket holding the zip built by `dispatcher package`",
        },
        "CodeKey": {"Type": "String", "Description": "S3 key of that zip"},
    }


class CloudFormationRenderer(Renderer[Fragment]):
    """``cloudformation.yaml``: a plain CloudFormation template."""

    format = "cloudformation"
    provider = "aws"
    filename = "cloudformation.yaml"

    def __init__(self) -> None:
        self.resources = CloudFormationResources()

    def handlers(self) -> Mapping[type[Resource], Callable[[Any, Deployment], Fragment]]:
        return self.resources.handlers()

    def template(self, deployment: Deployment) -> dict[str, Any]:
        """The template as data."""
        sections = _merge(self.fragments(deployment))
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"faas-dispatcher app {deployment.app}: queues, workers, results",
            "Parameters": _parameters(),
            "Resources": sections.get("Resources", {}),
            "Outputs": sections.get("Outputs", {}),
        }

    def render(self, deployment: Deployment) -> dict[str, str]:
        text = render_template(
            "aws/cloudformation.yaml.j2",
            deployment=deployment,
            format=self.format,
            body=to_yaml(self.template(deployment)),
        )
        return {self.filename: text}


class SamRenderer(CloudFormationRenderer):
    """``sam.yaml``: the same resources; workers are ``AWS::Serverless::Function`` with SQS
    events."""

    format = "sam"
    filename = "sam.yaml"

    def handlers(self) -> Mapping[type[Resource], Callable[[Any, Deployment], Fragment]]:
        return {**self.resources.handlers(), Worker: self.worker, Trigger: self.trigger}

    def worker(self, worker: Worker, deployment: Deployment) -> Fragment:
        """A serverless function (its events come from the triggers) and its log group."""
        logical = logical_id(worker)
        function = self.resources.function(worker, deployment, logical)
        properties = function["Properties"]
        properties["CodeUri"] = {"Bucket": _ref("CodeBucket"), "Key": _ref("CodeKey")}
        del properties["Code"]
        function["Type"] = "AWS::Serverless::Function"
        return [
            ("Resources", f"{logical}LogGroup", self.resources.log_group(worker)),
            ("Resources", logical, function),
        ]

    def trigger(self, trigger: Trigger, deployment: Deployment) -> Fragment:
        """An SQS event on the worker."""
        event = {
            "Type": "SQS",
            "Properties": {
                "Queue": _arn(logical_id(deployment.get(trigger.queue))),
                **_trigger_settings(trigger, deployment),
                "Enabled": True,
            },
        }
        return [("Events", logical_id(deployment.get(trigger.worker)), event)]

    def template(self, deployment: Deployment) -> dict[str, Any]:
        template = super().template(deployment)
        events = _merge(self.fragments(deployment)).get("Events", {})
        for function, event in events.items():
            template["Resources"][function]["Properties"]["Events"] = {"Queue": event}
        return {"Transform": "AWS::Serverless-2016-10-31", **template}


# --- serverless.yml --------------------------------------------------------------------------


def function_key(worker: Worker) -> str:
    """The key of a worker under ``functions:``."""
    key = camel(worker.queue)
    return key[:1].lower() + key[1:]


def package_path(app: str) -> str:
    """Where ``dispatcher package`` writes the zip, relative to the project root."""
    return f"build/{app}-lambda.zip"


class ServerlessRenderer(Renderer[Fragment]):
    """``serverless.yml`` for Serverless Framework 3: functions with SQS events, the rest as
    CloudFormation under ``resources``."""

    format = "serverless"
    provider = "aws"
    filename = "serverless.yml"

    def __init__(self) -> None:
        self.resources = CloudFormationResources()

    def handlers(self) -> Mapping[type[Resource], Callable[[Any, Deployment], Fragment]]:
        return {**self.resources.handlers(), Worker: self.worker, Trigger: self.trigger}

    def worker(self, worker: Worker, deployment: Deployment) -> Fragment:
        """A function entry (Serverless makes its log group)."""
        function: dict[str, Any] = {
            "name": worker.physical_name,
            "description": f"Runs the tasks of queue {worker.queue}: {', '.join(worker.tasks)}",
            "handler": worker.entrypoint,
            "memorySize": worker.memory_mb,
            "timeout": worker.timeout_seconds,
            "role": _arn(logical_id(deployment.get(worker.identity))),
            "environment": dict(worker.environment),
        }
        if worker.reserved_concurrency is not None:
            function["reservedConcurrency"] = worker.reserved_concurrency
        return [("functions", function_key(worker), function)]

    def trigger(self, trigger: Trigger, deployment: Deployment) -> Fragment:
        """An ``sqs`` event of the function."""
        queue = deployment.get(trigger.queue)
        event: dict[str, Any] = {"arn": _arn(logical_id(queue)), "batchSize": trigger.batch_size}
        if not (isinstance(queue, Queue) and queue.ordered):
            event["maximumBatchingWindow"] = trigger.batching_window_seconds
        if trigger.partial_failures:
            event["functionResponseType"] = PARTIAL_FAILURES
        if trigger.max_concurrency is not None:
            event["maximumConcurrency"] = trigger.max_concurrency
        worker = deployment.get(trigger.worker)
        assert isinstance(worker, Worker)
        return [("events", function_key(worker), {"sqs": event})]

    def config(self, deployment: Deployment) -> dict[str, Any]:
        """The serverless.yml content as data."""
        sections = _merge(self.fragments(deployment))
        functions = sections.get("functions", {})
        for key, event in sections.get("events", {}).items():
            functions[key]["events"] = [event]
        return {
            "service": deployment.app,
            "frameworkVersion": "3",
            "provider": {
                "name": "aws",
                "runtime": AWS.runtime,
                "architecture": "x86_64",
                "region": "${opt:region, 'us-east-1'}",
                "stage": "${opt:stage, 'prod'}",
                "logRetentionInDays": LOG_RETENTION_DAYS,
            },
            "package": {"artifact": package_path(deployment.app)},
            "functions": functions,
            "resources": {
                "Resources": sections.get("Resources", {}),
                "Outputs": sections.get("Outputs", {}),
            },
        }

    def render(self, deployment: Deployment) -> dict[str, str]:
        text = render_template(
            "aws/serverless.yml.j2",
            deployment=deployment,
            format=self.format,
            body=to_yaml(self.config(deployment)),
        )
        return {self.filename: text}


# --- Terraform -------------------------------------------------------------------------------

Blocks = list[Block]


def _tf_skips(*kinds: str) -> list[Item]:
    return [
        Comment(f"checkov:skip={check}:{reason}")
        for kind in kinds
        for check, reason in SKIPS[kind].items()
    ]


def _tf_ref(resource: Resource) -> str:
    """The Terraform address of a model resource's main cloud resource."""
    kind = {
        Queue: "aws_sqs_queue",
        DeadLetterQueue: "aws_sqs_queue",
        Worker: "aws_lambda_function",
        Identity: "aws_iam_role",
        Trigger: "aws_lambda_event_source_mapping",
        Schedule: "aws_cloudwatch_event_rule",
        ResultStore: "aws_dynamodb_table",
        PayloadStore: "aws_s3_bucket",
    }[type(resource)]
    return f"{kind}.{snake(resource.name)}"


def _tf_arns(resource: Resource, deployment: Deployment) -> list[Any]:
    if isinstance(resource, Worker):
        return [Expr(f'"${{aws_cloudwatch_log_group.{snake(resource.name)}.arn}}:*"')]
    arn = Expr(f"{_tf_ref(resource)}.arn")
    if isinstance(resource, PayloadStore):
        return [arn, Expr(f'"${{{_tf_ref(resource)}.arn}}/*"')]
    return [arn]


def _resource(kind: str, name: str, *items: Item) -> Block:
    return Block("resource", (kind, name), list(items))


def _tf_queue_attributes(
    physical: str, ordered: bool, retention: int, visibility: int | None = None
) -> list[Item]:
    items: list[Item] = [Attribute("name", physical)]
    if ordered:
        items += [Attribute("fifo_queue", True), Attribute("content_based_deduplication", True)]
    if visibility is not None:
        items.append(Attribute("visibility_timeout_seconds", visibility))
    items += [
        Attribute("message_retention_seconds", retention),
        Attribute("sqs_managed_sse_enabled", True),
    ]
    return items


class TerraformRenderer(Renderer[Blocks]):
    """``main.tf``: HCL for the hashicorp/aws provider, formatted as ``terraform fmt`` would."""

    format = "terraform"
    provider = "aws"
    filename = "main.tf"

    def handlers(self) -> Mapping[type[Resource], Callable[[Any, Deployment], Blocks]]:
        return {
            DeadLetterQueue: self.dead_letter_queue,
            Queue: self.queue,
            ResultStore: self.result_store,
            PayloadStore: self.payload_store,
            Identity: self.identity,
            Worker: self.worker,
            Trigger: self.trigger,
            Schedule: self.schedule,
        }

    def dead_letter_queue(self, dlq: DeadLetterQueue, deployment: Deployment) -> Blocks:
        """An SQS queue kept for 14 days."""
        items = _tf_queue_attributes(dlq.physical_name, dlq.ordered, dlq.retention_seconds)
        return [_resource("aws_sqs_queue", snake(dlq.name), *_tf_skips("queue"), *items)]

    def queue(self, queue: Queue, deployment: Deployment) -> Blocks:
        """An SQS queue with its redrive policy, and the policy letting its schedules send."""
        dlq = deployment.get(queue.dead_letter)
        redrive: dict[str, Value] = {
            "deadLetterTargetArn": Expr(f"{_tf_ref(dlq)}.arn"),
            "maxReceiveCount": queue.max_receive_count,
        }
        name = snake(queue.name)
        items = _tf_queue_attributes(
            queue.physical_name,
            queue.ordered,
            queue.retention_seconds,
            queue.visibility_timeout_seconds,
        )
        items.append(Attribute("redrive_policy", Expr(f"jsonencode({value(redrive, 1)})")))
        blocks = [
            _resource("aws_sqs_queue", name, *_tf_skips("queue"), *items),
            Block(
                "output",
                (f"{name}_queue_url",),
                [
                    Attribute("description", f"URL of {queue.physical_name}"),
                    Attribute("value", Expr(f"aws_sqs_queue.{name}.url")),
                ],
            ),
        ]
        schedules = [s for s in deployment.of_type(Schedule) if s.queue == queue.name]
        if schedules:
            statements: list[Item] = [
                Block(
                    "statement",
                    (),
                    [
                        Attribute("sid", f"Schedule{camel(s.name)}"),
                        Attribute("actions", ["sqs:SendMessage"]),
                        Attribute("resources", [Expr(f"aws_sqs_queue.{name}.arn")]),
                        Block(
                            "principals",
                            (),
                            [
                                Attribute("type", "Service"),
                                Attribute("identifiers", ["events.amazonaws.com"]),
                            ],
                        ),
                        Block(
                            "condition",
                            (),
                            [
                                Attribute("test", "ArnEquals"),
                                Attribute("variable", "aws:SourceArn"),
                                Attribute("values", [Expr(f"{_tf_ref(s)}.arn")]),
                            ],
                        ),
                    ],
                )
                for s in schedules
            ]
            blocks += [
                Block("data", ("aws_iam_policy_document", f"{name}_schedules"), statements),
                _resource(
                    "aws_sqs_queue_policy",
                    name,
                    Attribute("queue_url", Expr(f"aws_sqs_queue.{name}.id")),
                    Attribute(
                        "policy", Expr(f"data.aws_iam_policy_document.{name}_schedules.json")
                    ),
                ),
            ]
        return blocks

    def result_store(self, store: ResultStore, deployment: Deployment) -> Blocks:
        """An on-demand DynamoDB table with TTL and point-in-time recovery."""
        return [
            _resource(
                "aws_dynamodb_table",
                snake(store.name),
                *_tf_skips("table"),
                Attribute("name", store.physical_name),
                Attribute("billing_mode", "PAY_PER_REQUEST"),
                Attribute("hash_key", store.key),
                Block("attribute", (), [Attribute("name", store.key), Attribute("type", "S")]),
                Block(
                    "ttl",
                    (),
                    [Attribute("attribute_name", store.ttl_attribute), Attribute("enabled", True)],
                ),
                Block("point_in_time_recovery", (), [Attribute("enabled", True)]),
                Block("server_side_encryption", (), [Attribute("enabled", True)]),
            )
        ]

    def payload_store(self, store: PayloadStore, deployment: Deployment) -> Blocks:
        """A private, encrypted S3 bucket whose objects expire."""
        name = snake(store.name)
        bucket = Attribute("bucket", Expr(f"aws_s3_bucket.{name}.id"))
        return [
            _resource(
                "aws_s3_bucket",
                name,
                *_tf_skips("bucket"),
                Attribute("bucket", store.physical_name),
            ),
            _resource(
                "aws_s3_bucket_public_access_block",
                name,
                bucket,
                Attribute("block_public_acls", True),
                Attribute("block_public_policy", True),
                Attribute("ignore_public_acls", True),
                Attribute("restrict_public_buckets", True),
            ),
            _resource(
                "aws_s3_bucket_server_side_encryption_configuration",
                name,
                bucket,
                Block(
                    "rule",
                    (),
                    [
                        Block(
                            "apply_server_side_encryption_by_default",
                            (),
                            [Attribute("sse_algorithm", "AES256")],
                        )
                    ],
                ),
            ),
            _resource(
                "aws_s3_bucket_ownership_controls",
                name,
                bucket,
                Block("rule", (), [Attribute("object_ownership", "BucketOwnerEnforced")]),
            ),
            _resource(
                "aws_s3_bucket_lifecycle_configuration",
                name,
                bucket,
                Block(
                    "rule",
                    (),
                    [
                        Attribute("id", "expire-claim-checks"),
                        Attribute("status", "Enabled"),
                        Block("filter", (), []),
                        Block("expiration", (), [Attribute("days", store.expire_after_days)]),
                        Block(
                            "abort_incomplete_multipart_upload",
                            (),
                            [Attribute("days_after_initiation", 1)],
                        ),
                    ],
                ),
            ),
        ]

    def identity(self, identity: Identity, deployment: Deployment) -> Blocks:
        """An IAM role Lambda assumes, with one inline least-privilege policy."""
        name = snake(identity.name)
        worker = deployment.get(identity.worker)
        assert isinstance(worker, Worker)
        statements: list[Item] = [
            Block(
                "statement",
                (),
                [Attribute("actions", s["Action"]), Attribute("resources", s["Resource"])],
            )
            for s in policy_statements(identity, deployment, _tf_arns)
        ]
        assume = Block(
            "statement",
            (),
            [
                Attribute("actions", ["sts:AssumeRole"]),
                Block(
                    "principals",
                    (),
                    [
                        Attribute("type", "Service"),
                        Attribute("identifiers", ["lambda.amazonaws.com"]),
                    ],
                ),
            ],
        )
        return [
            Block("data", ("aws_iam_policy_document", f"{name}_assume"), [assume]),
            Block("data", ("aws_iam_policy_document", name), statements),
            _resource(
                "aws_iam_role",
                name,
                Attribute("name", f"{worker.physical_name}-role"),
                Attribute(
                    "assume_role_policy", Expr(f"data.aws_iam_policy_document.{name}_assume.json")
                ),
            ),
            _resource(
                "aws_iam_role_policy",
                name,
                Attribute("name", "dispatcher-worker"),
                Attribute("role", Expr(f"aws_iam_role.{name}.id")),
                Attribute("policy", Expr(f"data.aws_iam_policy_document.{name}.json")),
            ),
        ]

    def worker(self, worker: Worker, deployment: Deployment) -> Blocks:
        """The Lambda function and its log group."""
        name = snake(worker.name)
        identity = snake(worker.identity)
        items: list[Item] = [
            *_tf_skips("function"),
            Attribute("function_name", worker.physical_name),
            Attribute(
                "description",
                f"Runs the tasks of queue {worker.queue}: {', '.join(worker.tasks)}",
            ),
            Attribute("role", Expr(f"aws_iam_role.{identity}.arn")),
            Attribute("runtime", worker.runtime),
            Attribute("handler", worker.entrypoint),
            Attribute("filename", Expr("var.lambda_package")),
            Attribute("source_code_hash", Expr("filebase64sha256(var.lambda_package)")),
            Attribute("memory_size", worker.memory_mb),
            Attribute("timeout", worker.timeout_seconds),
        ]
        if worker.reserved_concurrency is not None:
            items.append(Attribute("reserved_concurrent_executions", worker.reserved_concurrency))
        items += [
            Block("environment", (), [Attribute("variables", dict(worker.environment))]),
            Attribute(
                "depends_on",
                [
                    Expr(f"aws_cloudwatch_log_group.{name}"),
                    Expr(f"aws_iam_role_policy.{identity}"),
                ],
            ),
        ]
        return [
            _resource(
                "aws_cloudwatch_log_group",
                name,
                *_tf_skips("log_group"),
                Attribute("name", log_group_name(worker)),
                Attribute("retention_in_days", LOG_RETENTION_DAYS),
            ),
            _resource("aws_lambda_function", name, *items),
        ]

    def trigger(self, trigger: Trigger, deployment: Deployment) -> Blocks:
        """The SQS event source mapping."""
        queue = deployment.get(trigger.queue)
        items: list[Item] = [
            Attribute("event_source_arn", Expr(f"{_tf_ref(queue)}.arn")),
            Attribute("function_name", Expr(f"{_tf_ref(deployment.get(trigger.worker))}.arn")),
            Attribute("batch_size", trigger.batch_size),
        ]
        if not (isinstance(queue, Queue) and queue.ordered):
            items.append(
                Attribute("maximum_batching_window_in_seconds", trigger.batching_window_seconds)
            )
        if trigger.partial_failures:
            items.append(Attribute("function_response_types", [PARTIAL_FAILURES]))
        if trigger.max_concurrency is not None:
            items.append(
                Block(
                    "scaling_config",
                    (),
                    [Attribute("maximum_concurrency", trigger.max_concurrency)],
                )
            )
        return [_resource("aws_lambda_event_source_mapping", snake(trigger.name), *items)]

    def schedule(self, schedule: Schedule, deployment: Deployment) -> Blocks:
        """An EventBridge rule and its target, sending a fresh envelope to the task's queue."""
        queue = deployment.get(schedule.queue)
        assert isinstance(queue, Queue)
        name = snake(schedule.name)
        target: list[Item] = [
            Attribute("rule", Expr(f"aws_cloudwatch_event_rule.{name}.name")),
            Attribute("target_id", "queue"),
            Attribute("arn", Expr(f"{_tf_ref(queue)}.arn")),
            Block(
                "input_transformer",
                (),
                [
                    Attribute("input_paths", {"id": "$.id", "time": "$.time"}),
                    Attribute("input_template", envelope_template(schedule.task)),
                ],
            ),
        ]
        if queue.ordered:
            target.append(Block("sqs_target", (), [Attribute("message_group_id", schedule.task)]))
        return [
            _resource(
                "aws_cloudwatch_event_rule",
                name,
                Attribute("name", f"{deployment.app}-{schedule.name}"),
                Attribute("description", f"Runs {schedule.task} on {schedule.expression!r} (UTC)"),
                Attribute("schedule_expression", schedule_expression(schedule)),
            ),
            _resource("aws_cloudwatch_event_target", name, *target),
        ]

    def render(self, deployment: Deployment) -> dict[str, str]:
        blocks = [b for fragment in self.fragments(deployment) for b in fragment]
        text = render_template(
            "aws/terraform/main.tf.j2",
            deployment=deployment,
            format=self.format,
            body=document(blocks),
        )
        return {self.filename: text}
