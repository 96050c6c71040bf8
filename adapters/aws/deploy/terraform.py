"""``main.tf``: the AWS policy's records as HCL for the hashicorp/aws provider, formatted as
``terraform fmt`` would. Only writes: every value comes from the records; this module knows
Terraform's resource types, addresses and reference syntax."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.aws.deploy.cloudformation import TEMPLATES
from adapters.aws.deploy.names import snake
from adapters.aws.deploy.records import (
    Arn,
    AwsPlan,
    DynamoTable,
    EventSourceMapping,
    IamRole,
    LambdaFunction,
    LogGroup,
    LogGroupArn,
    ObjectsArn,
    Ref,
    S3Bucket,
    ScheduleRule,
    Skip,
    SqsDeadLetterQueue,
    SqsQueue,
    SqsQueuePolicy,
)
from dispatcher.deploy.hcl import Attribute, Block, Comment, Expr, Item, Value, document, value
from dispatcher.deploy.render import Renderer
from dispatcher.deploy.text import render_template

Blocks = list[Block]

#: The Terraform resource type of each record type's main resource.
RESOURCE_TYPES: dict[type, str] = {
    SqsDeadLetterQueue: "aws_sqs_queue",
    SqsQueue: "aws_sqs_queue",
    SqsQueuePolicy: "aws_sqs_queue_policy",
    DynamoTable: "aws_dynamodb_table",
    S3Bucket: "aws_s3_bucket",
    IamRole: "aws_iam_role",
    LogGroup: "aws_cloudwatch_log_group",
    LambdaFunction: "aws_lambda_function",
    EventSourceMapping: "aws_lambda_event_source_mapping",
    ScheduleRule: "aws_cloudwatch_event_rule",
}


def address(kind: type, name: str) -> str:
    """The address of the record of type ``kind`` for model resource ``name``."""
    return f"{RESOURCE_TYPES[kind]}.{snake(name)}"


def write_ref(target: Ref) -> Expr:
    """A symbolic reference as an HCL expression."""
    if isinstance(target, Arn):
        return Expr(f"{address(target.kind, target.name)}.arn")
    if isinstance(target, ObjectsArn):
        return Expr(f'"${{{address(S3Bucket, target.bucket)}.arn}}/*"')
    assert isinstance(target, LogGroupArn)
    return Expr(f'"${{{address(LogGroup, target.function)}.arn}}:*"')


def comments(skips: tuple[Skip, ...]) -> list[Item]:
    """checkov's skip annotations."""
    return [Comment(f"checkov:skip={s.check}:{s.reason}") for s in skips]


def resource(kind: str, name: str, *items: Item) -> Block:
    """A ``resource`` block."""
    return Block("resource", (kind, name), list(items))


def queue_attributes(record: SqsQueue | SqsDeadLetterQueue) -> list[Item]:
    """The attributes a task queue and a dead-letter queue share, and the visibility."""
    items: list[Item] = [Attribute("name", record.queue_name)]
    if record.fifo:
        items.append(Attribute("fifo_queue", True))
    if record.content_based_deduplication:
        items.append(Attribute("content_based_deduplication", True))
    if isinstance(record, SqsQueue):
        items.append(Attribute("visibility_timeout_seconds", record.visibility_timeout))
    items.append(Attribute("message_retention_seconds", record.retention_seconds))
    if record.managed_encryption:
        items.append(Attribute("sqs_managed_sse_enabled", True))
    return items


def service_principal(service: str) -> Block:
    """A ``principals`` block naming an AWS service."""
    return Block(
        "principals", (), [Attribute("type", "Service"), Attribute("identifiers", [service])]
    )


class TerraformRenderer(Renderer[Blocks]):
    """``main.tf``."""

    format = "terraform"
    provider = "aws"
    filename = "main.tf"

    def handlers(self) -> Mapping[type, Callable[[Any, Any], Blocks]]:
        return {
            SqsDeadLetterQueue: self.dead_letter_queue,
            SqsQueue: self.queue,
            SqsQueuePolicy: self.queue_policy,
            DynamoTable: self.table,
            S3Bucket: self.bucket,
            IamRole: self.role,
            LogGroup: self.log_group,
            LambdaFunction: self.function,
            EventSourceMapping: self.event_source_mapping,
            ScheduleRule: self.rule,
        }

    def dead_letter_queue(self, record: SqsDeadLetterQueue, plan: AwsPlan) -> Blocks:
        """An ``aws_sqs_queue``."""
        items = [*comments(record.skips), *queue_attributes(record)]
        return [resource("aws_sqs_queue", snake(record.name), *items)]

    def queue(self, record: SqsQueue, plan: AwsPlan) -> Blocks:
        """An ``aws_sqs_queue`` with its redrive policy, and its URL as an output."""
        name = snake(record.name)
        redrive: dict[str, Value] = {
            "deadLetterTargetArn": write_ref(Arn(SqsDeadLetterQueue, record.redrive.dead_letter)),
            "maxReceiveCount": record.redrive.max_receive_count,
        }
        items = [
            *comments(record.skips),
            *queue_attributes(record),
            Attribute("redrive_policy", Expr(f"jsonencode({value(redrive, 1)})")),
        ]
        output = Block(
            "output",
            (f"{name}_queue_url",),
            [
                Attribute("description", record.url_output),
                Attribute("value", Expr(f"{address(SqsQueue, record.name)}.url")),
            ],
        )
        return [resource("aws_sqs_queue", name, *items), output]

    def queue_policy(self, record: SqsQueuePolicy, plan: AwsPlan) -> Blocks:
        """The policy document letting the schedule rules send, and the queue policy."""
        name, queue = snake(record.name), address(SqsQueue, record.queue)
        statements: list[Item] = [
            Block(
                "statement",
                (),
                [
                    Attribute("sid", sender.sid),
                    Attribute("actions", [record.action]),
                    Attribute("resources", [Expr(f"{queue}.arn")]),
                    service_principal(record.principal),
                    Block(
                        "condition",
                        (),
                        [
                            Attribute("test", "ArnEquals"),
                            Attribute("variable", "aws:SourceArn"),
                            Attribute("values", [write_ref(Arn(ScheduleRule, sender.rule))]),
                        ],
                    ),
                ],
            )
            for sender in record.senders
        ]
        document_name = f"{name}_schedules"
        return [
            Block("data", ("aws_iam_policy_document", document_name), statements),
            resource(
                "aws_sqs_queue_policy",
                name,
                Attribute("queue_url", Expr(f"{queue}.id")),
                Attribute("policy", Expr(f"data.aws_iam_policy_document.{document_name}.json")),
            ),
        ]

    def table(self, record: DynamoTable, plan: AwsPlan) -> Blocks:
        """An ``aws_dynamodb_table``."""
        return [
            resource(
                "aws_dynamodb_table",
                snake(record.name),
                *comments(record.skips),
                Attribute("name", record.table_name),
                Attribute("billing_mode", record.billing_mode),
                Attribute("hash_key", record.key),
                Block(
                    "attribute",
                    (),
                    [Attribute("name", record.key), Attribute("type", record.key_type)],
                ),
                Block(
                    "ttl",
                    (),
                    [Attribute("attribute_name", record.ttl_attribute), Attribute("enabled", True)],
                ),
                Block(
                    "point_in_time_recovery",
                    (),
                    [Attribute("enabled", record.point_in_time_recovery)],
                ),
                Block("server_side_encryption", (), [Attribute("enabled", record.encrypted)]),
            )
        ]

    def bucket(self, record: S3Bucket, plan: AwsPlan) -> Blocks:
        """An ``aws_s3_bucket`` and its access block, encryption, ownership and lifecycle."""
        name = snake(record.name)
        bucket = Attribute("bucket", Expr(f"{address(S3Bucket, record.name)}.id"))
        blocked = record.block_public_access
        return [
            resource(
                "aws_s3_bucket",
                name,
                *comments(record.skips),
                Attribute("bucket", record.bucket_name),
            ),
            resource(
                "aws_s3_bucket_public_access_block",
                name,
                bucket,
                Attribute("block_public_acls", blocked),
                Attribute("block_public_policy", blocked),
                Attribute("ignore_public_acls", blocked),
                Attribute("restrict_public_buckets", blocked),
            ),
            resource(
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
                            [Attribute("sse_algorithm", record.encryption_algorithm)],
                        )
                    ],
                ),
            ),
            resource(
                "aws_s3_bucket_ownership_controls",
                name,
                bucket,
                Block("rule", (), [Attribute("object_ownership", record.object_ownership)]),
            ),
            resource(
                "aws_s3_bucket_lifecycle_configuration",
                name,
                bucket,
                Block(
                    "rule",
                    (),
                    [
                        Attribute("id", record.lifecycle_rule),
                        Attribute("status", "Enabled"),
                        Block("filter", (), []),
                        Block("expiration", (), [Attribute("days", record.expire_after_days)]),
                        Block(
                            "abort_incomplete_multipart_upload",
                            (),
                            [Attribute("days_after_initiation", record.abort_multipart_after_days)],
                        ),
                    ],
                ),
            ),
        ]

    def role(self, record: IamRole, plan: AwsPlan) -> Blocks:
        """The policy documents, an ``aws_iam_role`` and its inline ``aws_iam_role_policy``."""
        name = snake(record.name)
        statements: list[Item] = [
            Block(
                "statement",
                (),
                [
                    Attribute("actions", list(statement.actions)),
                    Attribute("resources", [write_ref(t) for t in statement.resources]),
                ],
            )
            for statement in record.statements
        ]
        assume = Block(
            "statement",
            (),
            [Attribute("actions", ["sts:AssumeRole"]), service_principal(record.service)],
        )
        return [
            Block("data", ("aws_iam_policy_document", f"{name}_assume"), [assume]),
            Block("data", ("aws_iam_policy_document", name), statements),
            resource(
                "aws_iam_role",
                name,
                Attribute("name", record.role_name),
                Attribute(
                    "assume_role_policy", Expr(f"data.aws_iam_policy_document.{name}_assume.json")
                ),
            ),
            resource(
                "aws_iam_role_policy",
                name,
                Attribute("name", record.policy_name),
                Attribute("role", Expr(f"{address(IamRole, record.name)}.id")),
                Attribute("policy", Expr(f"data.aws_iam_policy_document.{name}.json")),
            ),
        ]

    def log_group(self, record: LogGroup, plan: AwsPlan) -> Blocks:
        """An ``aws_cloudwatch_log_group``."""
        return [
            resource(
                "aws_cloudwatch_log_group",
                snake(record.name),
                *comments(record.skips),
                Attribute("name", record.log_group_name),
                Attribute("retention_in_days", record.retention_days),
            )
        ]

    def function(self, record: LambdaFunction, plan: AwsPlan) -> Blocks:
        """An ``aws_lambda_function`` from the zip given as ``var.lambda_package``."""
        items: list[Item] = [
            *comments(record.skips),
            Attribute("function_name", record.function_name),
            Attribute("description", record.description),
            Attribute("role", Expr(f"{address(IamRole, record.role)}.arn")),
            Attribute("runtime", record.runtime),
            Attribute("handler", record.handler),
            Attribute("filename", Expr("var.lambda_package")),
            Attribute("source_code_hash", Expr("filebase64sha256(var.lambda_package)")),
            Attribute("memory_size", record.memory_mb),
            Attribute("timeout", record.timeout),
        ]
        if record.reserved_concurrency is not None:
            items.append(Attribute("reserved_concurrent_executions", record.reserved_concurrency))
        items += [
            Block("environment", (), [Attribute("variables", dict(record.environment))]),
            Attribute(
                "depends_on",
                [
                    Expr(address(LogGroup, record.log_group)),
                    Expr(f"aws_iam_role_policy.{snake(record.role)}"),
                ],
            ),
        ]
        return [resource("aws_lambda_function", snake(record.name), *items)]

    def event_source_mapping(self, record: EventSourceMapping, plan: AwsPlan) -> Blocks:
        """An ``aws_lambda_event_source_mapping``."""
        items: list[Item] = [
            Attribute("event_source_arn", write_ref(Arn(SqsQueue, record.queue))),
            Attribute("function_name", write_ref(Arn(LambdaFunction, record.function))),
            Attribute("batch_size", record.batch_size),
        ]
        if record.batching_window is not None:
            items.append(Attribute("maximum_batching_window_in_seconds", record.batching_window))
        if record.response_types:
            items.append(Attribute("function_response_types", list(record.response_types)))
        if record.max_concurrency is not None:
            items.append(
                Block(
                    "scaling_config", (), [Attribute("maximum_concurrency", record.max_concurrency)]
                )
            )
        return [resource("aws_lambda_event_source_mapping", snake(record.name), *items)]

    def rule(self, record: ScheduleRule, plan: AwsPlan) -> Blocks:
        """An ``aws_cloudwatch_event_rule`` and its target, the queue."""
        name = snake(record.name)
        target: list[Item] = [
            Attribute("rule", Expr(f"{address(ScheduleRule, record.name)}.name")),
            Attribute("target_id", record.target_id),
            Attribute("arn", write_ref(Arn(SqsQueue, record.queue))),
            Block(
                "input_transformer",
                (),
                [
                    Attribute("input_paths", dict(record.input_paths)),
                    Attribute("input_template", record.input_template),
                ],
            ),
        ]
        if record.message_group_id is not None:
            target.append(
                Block("sqs_target", (), [Attribute("message_group_id", record.message_group_id)])
            )
        return [
            resource(
                "aws_cloudwatch_event_rule",
                name,
                Attribute("name", record.rule_name),
                Attribute("description", record.description),
                Attribute("schedule_expression", record.expression),
            ),
            resource("aws_cloudwatch_event_target", name, *target),
        ]

    def render(self, plan: AwsPlan) -> dict[str, str]:
        blocks = [block for fragment in self.fragments(plan) for block in fragment]
        text = render_template(
            TEMPLATES,
            "terraform/main.tf.j2",
            deployment=plan.deployment,
            format=self.format,
            body=document(blocks),
        )
        return {self.filename: text}
