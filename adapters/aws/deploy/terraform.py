"""``main.tf``: the AWS policy's records as HCL for the hashicorp/aws provider, formatted as
``terraform fmt`` would. Only writes: every value comes from the records; this module knows
Terraform's resource types, addresses and reference syntax. Names follow the required
variable ``stage`` (``"shop-${var.stage}-payments"``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.aws.deploy.cloudformation import TEMPLATES
from adapters.aws.deploy.names import snake
from adapters.aws.deploy.records import (
    Account,
    Arn,
    AwsPlan,
    DynamoTable,
    EnvValue,
    EventSourceMapping,
    IamRole,
    LambdaFunction,
    LogGroup,
    LogGroupArn,
    ManagedPolicy,
    ObjectsArn,
    Ref,
    S3Bucket,
    ScheduleGroup,
    ScheduleRule,
    SchedulesArn,
    SqsDeadLetterQueue,
    SqsQueue,
    SqsQueuePolicy,
    Stage,
    Statement,
)
from adapters.aws.package import TERRAFORM_RUNTIMES
from dispatcher.deploy.errors import UnsupportedResource
from dispatcher.deploy.hcl import (
    Attribute,
    Block,
    Expr,
    Item,
    Value,
    checkov_comments,
    document,
    value,
)
from dispatcher.deploy.render import Renderer
from dispatcher.deploy.text import render_template
from dispatcher.naming import Name

ACCOUNT = "data.aws_caller_identity.current.account_id"
PARTITION = "data.aws_partition.current.partition"

Blocks = list[Block]

#: The Terraform resource type of each record type's main resource.
RESOURCE_TYPES: dict[type, str] = {
    SqsDeadLetterQueue: "aws_sqs_queue",
    SqsQueue: "aws_sqs_queue",
    SqsQueuePolicy: "aws_sqs_queue_policy",
    DynamoTable: "aws_dynamodb_table",
    S3Bucket: "aws_s3_bucket",
    ScheduleGroup: "aws_scheduler_schedule_group",
    IamRole: "aws_iam_role",
    ManagedPolicy: "aws_iam_policy",
    LogGroup: "aws_cloudwatch_log_group",
    LambdaFunction: "aws_lambda_function",
    EventSourceMapping: "aws_lambda_event_source_mapping",
    ScheduleRule: "aws_cloudwatch_event_rule",
}


def address(kind: type, name: str) -> str:
    """The address of the record of type ``kind`` for model resource ``name``."""
    return f"{RESOURCE_TYPES[kind]}.{snake(name)}"


def name_expr(name: Name, prefix: str = "") -> Expr:
    """A name as a string template of the stage (and the account and region)."""
    text = name.render("-${var.stage}", f"${{{ACCOUNT}}}", "${var.region}")
    return Expr(f'"{prefix}{text}"')


def write_ref(target: Ref) -> Expr:
    """A symbolic reference as an HCL expression."""
    if isinstance(target, Arn):
        return Expr(f"{address(target.kind, target.name)}.arn")
    if isinstance(target, ObjectsArn):
        return Expr(f'"${{{address(S3Bucket, target.bucket)}.arn}}/*"')
    if isinstance(target, SchedulesArn):
        group = address(ScheduleGroup, target.group)
        return Expr(
            f'"arn:${{{PARTITION}}}:scheduler:${{var.region}}:${{{ACCOUNT}}}:schedule/'
            f'${{{group}.name}}/*"'
        )
    assert isinstance(target, LogGroupArn)
    return Expr(f'"${{{address(LogGroup, target.function)}.arn}}:*"')


def env_value(data: EnvValue) -> Value:
    """An environment variable's value."""
    if isinstance(data, str):
        return data
    if isinstance(data, Name):
        return name_expr(data)
    if isinstance(data, Arn):
        return write_ref(data)
    if isinstance(data, Stage):
        return Expr("var.stage")
    assert isinstance(data, Account)
    return Expr(ACCOUNT)


def statement_blocks(statements: tuple[Statement, ...]) -> list[Item]:
    """``statement`` blocks of a policy document."""
    written: list[Item] = []
    for statement in statements:
        items: list[Item] = [
            Attribute("actions", list(statement.actions)),
            Attribute("resources", [write_ref(t) for t in statement.resources]),
        ]
        if statement.condition is not None:
            condition = statement.condition
            items.append(
                Block(
                    "condition",
                    (),
                    [
                        Attribute("test", condition.test),
                        Attribute("variable", condition.key),
                        Attribute("values", [condition.value]),
                    ],
                )
            )
        written.append(Block("statement", (), items))
    return written


def output(name: str, description: str, expression: str) -> Block:
    """An ``output`` block."""
    return Block(
        "output",
        (name,),
        [Attribute("description", description), Attribute("value", Expr(expression))],
    )


def resource(kind: str, name: str, *items: Item) -> Block:
    """A ``resource`` block."""
    return Block("resource", (kind, name), list(items))


def queue_attributes(record: SqsQueue | SqsDeadLetterQueue) -> list[Item]:
    """The attributes a task queue and a dead-letter queue share, and the visibility."""
    items: list[Item] = [Attribute("name", name_expr(record.queue_name))]
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
            ScheduleGroup: self.schedule_group,
            IamRole: self.role,
            ManagedPolicy: self.managed_policy,
            LogGroup: self.log_group,
            LambdaFunction: self.function,
            EventSourceMapping: self.event_source_mapping,
            ScheduleRule: self.rule,
        }

    def dead_letter_queue(self, record: SqsDeadLetterQueue, plan: AwsPlan) -> Blocks:
        """An ``aws_sqs_queue``."""
        items = [*checkov_comments(record.skips), *queue_attributes(record)]
        return [resource("aws_sqs_queue", snake(record.name), *items)]

    def queue(self, record: SqsQueue, plan: AwsPlan) -> Blocks:
        """An ``aws_sqs_queue`` with its redrive policy, and its URL as an output."""
        name = snake(record.name)
        redrive: dict[str, Value] = {
            "deadLetterTargetArn": write_ref(Arn(SqsDeadLetterQueue, record.redrive.dead_letter)),
            "maxReceiveCount": record.redrive.max_receive_count,
        }
        items = [
            *checkov_comments(record.skips),
            *queue_attributes(record),
            Attribute("redrive_policy", Expr(f"jsonencode({value(redrive, 1)})")),
        ]
        url = output(
            f"{name}_queue_url", record.url_output, f"{address(SqsQueue, record.name)}.url"
        )
        return [resource("aws_sqs_queue", name, *items), url]

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
                *checkov_comments(record.skips),
                Attribute("name", name_expr(record.table_name)),
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
                *checkov_comments(record.skips),
                Attribute("bucket", name_expr(record.bucket_name)),
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

    def schedule_group(self, record: ScheduleGroup, plan: AwsPlan) -> Blocks:
        """An ``aws_scheduler_schedule_group``, its name an output."""
        name = snake(record.name)
        return [
            resource(
                "aws_scheduler_schedule_group",
                name,
                Attribute("name", name_expr(record.group_name)),
            ),
            output(
                f"{name}_schedule_group",
                record.name_output,
                f"{address(ScheduleGroup, record.name)}.name",
            ),
        ]

    def role(self, record: IamRole, plan: AwsPlan) -> Blocks:
        """The policy documents, an ``aws_iam_role`` and its inline ``aws_iam_role_policy``
        (its ARN an output if asked)."""
        name = snake(record.name)
        assume_items: list[Item] = [
            Attribute("actions", ["sts:AssumeRole"]),
            service_principal(record.service),
        ]
        if record.same_account:
            assume_items.append(
                Block(
                    "condition",
                    (),
                    [
                        Attribute("test", "StringEquals"),
                        Attribute("variable", "aws:SourceAccount"),
                        Attribute("values", [Expr(ACCOUNT)]),
                    ],
                )
            )
        blocks = [
            Block(
                "data",
                ("aws_iam_policy_document", f"{name}_assume"),
                [Block("statement", (), assume_items)],
            ),
            Block("data", ("aws_iam_policy_document", name), statement_blocks(record.statements)),
            resource(
                "aws_iam_role",
                name,
                Attribute("name", name_expr(record.role_name)),
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
        if record.arn_output is not None:
            blocks.append(
                output(
                    f"{name}_role_arn", record.arn_output, f"{address(IamRole, record.name)}.arn"
                )
            )
        return blocks

    def managed_policy(self, record: ManagedPolicy, plan: AwsPlan) -> Blocks:
        """The policy document and an ``aws_iam_policy``, its ARN an output."""
        name = snake(record.name)
        return [
            Block("data", ("aws_iam_policy_document", name), statement_blocks(record.statements)),
            resource(
                "aws_iam_policy",
                name,
                Attribute("name", name_expr(record.policy_name)),
                Attribute("description", record.description),
                Attribute("policy", Expr(f"data.aws_iam_policy_document.{name}.json")),
            ),
            output(
                f"{name}_policy_arn",
                record.arn_output,
                f"{address(ManagedPolicy, record.name)}.arn",
            ),
        ]

    def log_group(self, record: LogGroup, plan: AwsPlan) -> Blocks:
        """An ``aws_cloudwatch_log_group``."""
        return [
            resource(
                "aws_cloudwatch_log_group",
                snake(record.name),
                *checkov_comments(record.skips),
                Attribute("name", name_expr(record.function_name, record.prefix)),
                Attribute("retention_in_days", record.retention_days),
            )
        ]

    def function(self, record: LambdaFunction, plan: AwsPlan) -> Blocks:
        """An ``aws_lambda_function`` from the zip given as ``var.lambda_package``."""
        items: list[Item] = [
            *checkov_comments(record.skips),
            Attribute("function_name", name_expr(record.function_name)),
            Attribute("description", record.description),
            Attribute("role", Expr(f"{address(IamRole, record.role)}.arn")),
            Attribute("runtime", record.runtime),
            Attribute("architectures", [record.architecture]),
            Attribute("handler", record.handler),
            Attribute("filename", Expr("var.lambda_package")),
            Attribute("source_code_hash", Expr("filebase64sha256(var.lambda_package)")),
            Attribute("memory_size", record.memory_mb),
            Attribute("timeout", record.timeout),
        ]
        if record.reserved_concurrency is not None:
            items.append(Attribute("reserved_concurrent_executions", record.reserved_concurrency))
        if record.snapstart:
            items.append(Attribute("publish", True))
            items.append(Block("snap_start", (), [Attribute("apply_on", "PublishedVersions")]))
        variables = {key: env_value(v) for key, v in record.environment.items()}
        items += [
            Block("environment", (), [Attribute("variables", variables)]),
            Attribute(
                "depends_on",
                [
                    Expr(address(LogGroup, record.log_group)),
                    Expr(f"aws_iam_role_policy.{snake(record.role)}"),
                ],
            ),
        ]
        blocks = [resource("aws_lambda_function", snake(record.name), *items)]
        if record.snapstart:
            [mapping] = [m for m in plan.of_type(EventSourceMapping) if m.function == record.name]
            function = address(LambdaFunction, record.name)
            blocks.append(
                resource(
                    "aws_lambda_alias",
                    snake(record.name),
                    Attribute("name", mapping.alias),
                    Attribute("function_name", Expr(f"{function}.function_name")),
                    Attribute("function_version", Expr(f"{function}.version")),
                )
            )
        return blocks

    def event_source_mapping(self, record: EventSourceMapping, plan: AwsPlan) -> Blocks:
        """An ``aws_lambda_event_source_mapping``."""
        function = (
            Expr(f"aws_lambda_alias.{snake(record.function)}.arn")
            if record.alias
            else write_ref(Arn(LambdaFunction, record.function))
        )
        items: list[Item] = [
            Attribute("event_source_arn", write_ref(Arn(SqsQueue, record.queue))),
            Attribute("function_name", function),
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
                Attribute("name", name_expr(record.rule_name)),
                Attribute("description", record.description),
                Attribute("schedule_expression", record.expression),
            ),
            resource("aws_cloudwatch_event_target", name, *target),
        ]

    def render(self, plan: AwsPlan) -> dict[str, str]:
        if plan.runtime not in TERRAFORM_RUNTIMES:
            raise UnsupportedResource(
                f"runtime {plan.runtime}: the hashicorp/aws provider 5.x this Terraform requires "
                f"does not accept it; use --runtime {max(TERRAFORM_RUNTIMES)} or older with "
                "--format terraform"
            )
        blocks = [block for fragment in self.fragments(plan) for block in fragment]
        blocks.append(output("stage", "The stage (DISPATCHER_STAGE for producers)", "var.stage"))
        text = render_template(
            TEMPLATES,
            "terraform/main.tf.j2",
            deployment=plan.deployment,
            format=self.format,
            stage_pattern=plan.stage_pattern,
            stage_description=plan.stage_description,
            body=document(blocks),
        )
        return {self.filename: text}
