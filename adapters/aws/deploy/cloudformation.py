"""``cloudformation.yaml``: the AWS policy's records as a plain CloudFormation template.

Only writes: every value comes from the records; this module knows CloudFormation's keys,
logical ids and reference syntax. Names follow the template's ``Stage`` parameter
(``!Sub shop-${Stage}-payments``). SAM and serverless.yml reuse :class:`CloudFormationResources`
for the resources they write the same way, with their own way of writing the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.aws.deploy.names import camel
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
from dispatcher.deploy.policy import Skip
from dispatcher.deploy.render import Renderer
from dispatcher.deploy.text import render_template, to_yaml
from dispatcher.naming import Name

TEMPLATES = "adapters.aws.deploy"

Fragment = list[tuple[str, str, Any]]
"""(section, key, value) entries: ``Resources``, ``Outputs``, or a renderer's own sections."""

#: The suffix of each record type's logical id, after the model name in CamelCase.
SUFFIXES: dict[type, str] = {
    SqsDeadLetterQueue: "",
    SqsQueue: "Queue",
    SqsQueuePolicy: "QueuePolicy",
    DynamoTable: "Table",
    S3Bucket: "Bucket",
    ScheduleGroup: "ScheduleGroup",
    IamRole: "Role",
    ManagedPolicy: "Policy",
    LogGroup: "LogGroup",
    LambdaFunction: "",
    EventSourceMapping: "",
    ScheduleRule: "",
}


def logical_id(kind: type, name: str) -> str:
    """The logical id of the record of type ``kind`` for model resource ``name``."""
    return camel(name) + SUFFIXES[kind]


def ref(kind: type, name: str) -> dict[str, Any]:
    """``{"Ref": ...}`` to a record."""
    return {"Ref": logical_id(kind, name)}


def arn(kind: type, name: str) -> dict[str, Any]:
    """The ARN of a record."""
    return {"Fn::GetAtt": [logical_id(kind, name), "Arn"]}


#: How this format writes the stage, the account and the region inside ``Fn::Sub``.
STAGE, ACCOUNT, REGION = "-${Stage}", "${AWS::AccountId}", "${AWS::Region}"


class Names:
    """How a format writes names: the stage, account and region in its own syntax, and a
    whole name as its value (CloudFormation: ``Fn::Sub`` with the ``Stage`` parameter)."""

    stage, account, region = STAGE, ACCOUNT, REGION

    def text(self, name: Name, prefix: str = "") -> str:
        """``name`` (after ``prefix``) as ``Fn::Sub`` text."""
        return prefix + name.render(self.stage, self.account, self.region)

    def value(self, name: Name, prefix: str = "") -> Any:
        """``name`` as a template value."""
        return {"Fn::Sub": self.text(name, prefix)}

    def stage_value(self) -> Any:
        """The stage itself."""
        return {"Ref": "Stage"}


def write_ref(target: Ref, plan: AwsPlan, names: Names) -> dict[str, Any]:
    """A symbolic reference in CloudFormation's syntax."""
    if isinstance(target, Arn):
        return arn(target.kind, target.name)
    if isinstance(target, ObjectsArn):
        return {"Fn::Sub": f"${{{logical_id(S3Bucket, target.bucket)}.Arn}}/*"}
    if isinstance(target, SchedulesArn):
        group = names.text(plan.get(ScheduleGroup, target.group).group_name)
        return {
            "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:"
            f"schedule/{group}/*"
        }
    assert isinstance(target, LogGroupArn)
    logs = plan.get(LogGroup, target.function)
    return {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        f"{names.text(logs.function_name, logs.prefix)}:*"
    }


def env_value(value: EnvValue, names: Names) -> Any:
    """An environment variable's value."""
    if isinstance(value, str):
        return value
    if isinstance(value, Name):
        return names.value(value)
    if isinstance(value, Arn):
        return arn(value.kind, value.name)
    if isinstance(value, Stage):
        return names.stage_value()
    assert isinstance(value, Account)
    return {"Ref": "AWS::AccountId"}


def policy_document(statements: tuple[Statement, ...], plan: AwsPlan, names: Names) -> Any:
    """An IAM policy document."""
    written = []
    for statement in statements:
        entry: dict[str, Any] = {
            "Effect": "Allow",
            "Action": list(statement.actions),
            "Resource": [write_ref(target, plan, names) for target in statement.resources],
        }
        if statement.condition is not None:
            condition = statement.condition
            entry["Condition"] = {condition.test: {condition.key: condition.value}}
        written.append(entry)
    return {"Version": "2012-10-17", "Statement": written}


def metadata(skips: tuple[Skip, ...]) -> dict[str, Any]:
    """checkov's skip annotations."""
    return {"checkov": {"skip": [{"id": s.check, "comment": s.reason} for s in skips]}}


def queue_properties(record: SqsQueue | SqsDeadLetterQueue, names: Names) -> dict[str, Any]:
    """The properties a task queue and a dead-letter queue share, and the visibility."""
    properties: dict[str, Any] = {"QueueName": names.value(record.queue_name)}
    if record.fifo:
        properties["FifoQueue"] = True
    if record.content_based_deduplication:
        properties["ContentBasedDeduplication"] = True
    if isinstance(record, SqsQueue):
        properties["VisibilityTimeout"] = record.visibility_timeout
    properties["MessageRetentionPeriod"] = record.retention_seconds
    if record.managed_encryption:
        properties["SqsManagedSseEnabled"] = True
    return properties


def mapping_settings(record: EventSourceMapping) -> dict[str, Any]:
    """Batch size, window, response types and maximum concurrency, in CloudFormation's keys."""
    settings: dict[str, Any] = {"BatchSize": record.batch_size}
    if record.batching_window is not None:
        settings["MaximumBatchingWindowInSeconds"] = record.batching_window
    if record.response_types:
        settings["FunctionResponseTypes"] = list(record.response_types)
    if record.max_concurrency is not None:
        settings["ScalingConfig"] = {"MaximumConcurrency": record.max_concurrency}
    return settings


def merge(fragments: list[Fragment]) -> dict[str, dict[str, Any]]:
    """Fragments gathered by section, in order."""
    sections: dict[str, dict[str, Any]] = {}
    for fragment in fragments:
        for section, key, item in fragment:
            sections.setdefault(section, {})[key] = item
    return sections


class CloudFormationResources:
    """Each record as CloudFormation resources (plain dicts), names written by ``names``."""

    def __init__(self, names: Names | None = None) -> None:
        self.names = names or Names()

    def handlers(self) -> dict[type, Callable[[Any, AwsPlan], Fragment]]:
        """The explicit table of translations."""
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

    def dead_letter_queue(self, record: SqsDeadLetterQueue, plan: AwsPlan) -> Fragment:
        """An ``AWS::SQS::Queue``."""
        resource = {
            "Type": "AWS::SQS::Queue",
            "Metadata": metadata(record.skips),
            "Properties": queue_properties(record, self.names),
        }
        return [("Resources", logical_id(SqsDeadLetterQueue, record.name), resource)]

    def queue(self, record: SqsQueue, plan: AwsPlan) -> Fragment:
        """An ``AWS::SQS::Queue`` with its redrive policy, and its URL as an output."""
        properties = queue_properties(record, self.names)
        properties["RedrivePolicy"] = {
            "deadLetterTargetArn": arn(SqsDeadLetterQueue, record.redrive.dead_letter),
            "maxReceiveCount": record.redrive.max_receive_count,
        }
        logical = logical_id(SqsQueue, record.name)
        resource = {
            "Type": "AWS::SQS::Queue",
            "Metadata": metadata(record.skips),
            "Properties": properties,
        }
        output = {"Description": record.url_output, "Value": {"Ref": logical}}
        return [("Resources", logical, resource), ("Outputs", f"{logical}Url", output)]

    def queue_policy(self, record: SqsQueuePolicy, plan: AwsPlan) -> Fragment:
        """An ``AWS::SQS::QueuePolicy`` letting the queue's schedule rules send."""
        statements = [
            {
                "Sid": sender.sid,
                "Effect": "Allow",
                "Principal": {"Service": record.principal},
                "Action": record.action,
                "Resource": arn(SqsQueue, record.queue),
                "Condition": {"ArnEquals": {"aws:SourceArn": arn(ScheduleRule, sender.rule)}},
            }
            for sender in record.senders
        ]
        resource = {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref(SqsQueue, record.queue)],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            },
        }
        return [("Resources", logical_id(SqsQueuePolicy, record.name), resource)]

    def table(self, record: DynamoTable, plan: AwsPlan) -> Fragment:
        """An ``AWS::DynamoDB::Table``."""
        resource = {
            "Type": "AWS::DynamoDB::Table",
            "Metadata": metadata(record.skips),
            "Properties": {
                "TableName": self.names.value(record.table_name),
                "BillingMode": record.billing_mode,
                "AttributeDefinitions": [
                    {"AttributeName": record.key, "AttributeType": record.key_type}
                ],
                "KeySchema": [{"AttributeName": record.key, "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": record.ttl_attribute, "Enabled": True},
                "PointInTimeRecoverySpecification": {
                    "PointInTimeRecoveryEnabled": record.point_in_time_recovery
                },
                "SSESpecification": {"SSEEnabled": record.encrypted},
            },
        }
        return [("Resources", logical_id(DynamoTable, record.name), resource)]

    def bucket(self, record: S3Bucket, plan: AwsPlan) -> Fragment:
        """An ``AWS::S3::Bucket``."""
        blocked = record.block_public_access
        resource = {
            "Type": "AWS::S3::Bucket",
            "Metadata": metadata(record.skips),
            "Properties": {
                "BucketName": self.names.value(record.bucket_name),
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": record.lifecycle_rule,
                            "Status": "Enabled",
                            "ExpirationInDays": record.expire_after_days,
                            "AbortIncompleteMultipartUpload": {
                                "DaysAfterInitiation": record.abort_multipart_after_days
                            },
                        }
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": blocked,
                    "BlockPublicPolicy": blocked,
                    "IgnorePublicAcls": blocked,
                    "RestrictPublicBuckets": blocked,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": record.encryption_algorithm
                            }
                        }
                    ]
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": record.object_ownership}]},
            },
        }
        return [("Resources", logical_id(S3Bucket, record.name), resource)]

    def schedule_group(self, record: ScheduleGroup, plan: AwsPlan) -> Fragment:
        """An ``AWS::Scheduler::ScheduleGroup``, its name an output."""
        logical = logical_id(ScheduleGroup, record.name)
        resource = {
            "Type": "AWS::Scheduler::ScheduleGroup",
            "Properties": {"Name": self.names.value(record.group_name)},
        }
        output = {"Description": record.name_output, "Value": {"Ref": logical}}
        return [("Resources", logical, resource), ("Outputs", f"{logical}Name", output)]

    def role(self, record: IamRole, plan: AwsPlan) -> Fragment:
        """An ``AWS::IAM::Role`` with its inline policy (its ARN an output if asked)."""
        assume: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": record.service},
            "Action": "sts:AssumeRole",
        }
        if record.same_account:
            assume["Condition"] = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        logical = logical_id(IamRole, record.name)
        resource = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": self.names.value(record.role_name),
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [assume]},
                "Policies": [
                    {
                        "PolicyName": record.policy_name,
                        "PolicyDocument": policy_document(record.statements, plan, self.names),
                    }
                ],
            },
        }
        fragment: Fragment = [("Resources", logical, resource)]
        if record.arn_output is not None:
            output = {"Description": record.arn_output, "Value": arn(IamRole, record.name)}
            fragment.append(("Outputs", f"{logical}Arn", output))
        return fragment

    def managed_policy(self, record: ManagedPolicy, plan: AwsPlan) -> Fragment:
        """An ``AWS::IAM::ManagedPolicy``, its ARN an output."""
        logical = logical_id(ManagedPolicy, record.name)
        resource = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": self.names.value(record.policy_name),
                "Description": record.description,
                "PolicyDocument": policy_document(record.statements, plan, self.names),
            },
        }
        output = {"Description": record.arn_output, "Value": {"Ref": logical}}
        return [("Resources", logical, resource), ("Outputs", f"{logical}Arn", output)]

    def log_group(self, record: LogGroup, plan: AwsPlan) -> Fragment:
        """An ``AWS::Logs::LogGroup``."""
        resource = {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": metadata(record.skips),
            "Properties": {
                "LogGroupName": self.names.value(record.function_name, record.prefix),
                "RetentionInDays": record.retention_days,
            },
        }
        return [("Resources", logical_id(LogGroup, record.name), resource)]

    def function_resource(
        self, record: LambdaFunction, kind: str, code: Mapping[str, Any], *, code_last: bool
    ) -> dict[str, Any]:
        """The function resource of type ``kind``, its code (``{"Code": ...}`` or
        ``{"CodeUri": ...}``) after the handler or after everything else."""
        properties: dict[str, Any] = {
            "FunctionName": self.names.value(record.function_name),
            "Description": record.description,
            "Runtime": record.runtime,
            "Architectures": [record.architecture],
            "Handler": record.handler,
            **({} if code_last else code),
            "MemorySize": record.memory_mb,
            "Timeout": record.timeout,
            "Role": arn(IamRole, record.role),
            "Environment": {
                "Variables": {
                    key: env_value(value, self.names) for key, value in record.environment.items()
                }
            },
        }
        if record.reserved_concurrency is not None:
            properties["ReservedConcurrentExecutions"] = record.reserved_concurrency
        if record.snapstart:
            properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
        if code_last:
            properties.update(code)
        return {
            "Type": kind,
            "DependsOn": [logical_id(LogGroup, record.log_group)],
            "Metadata": metadata(record.skips),
            "Properties": properties,
        }

    def function(self, record: LambdaFunction, plan: AwsPlan) -> Fragment:
        """An ``AWS::Lambda::Function`` whose code is the uploaded zip; with SnapStart, a
        version published for each code key and the alias the trigger invokes."""
        code = {"Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}}
        resource = self.function_resource(record, "AWS::Lambda::Function", code, code_last=False)
        logical = logical_id(LambdaFunction, record.name)
        fragment: Fragment = [("Resources", logical, resource)]
        if record.snapstart:
            [mapping] = [m for m in plan.of_type(EventSourceMapping) if m.function == record.name]
            version = {
                "Type": "AWS::Lambda::Version",
                "Properties": {
                    "FunctionName": {"Ref": logical},
                    "Description": {"Fn::Sub": "code ${CodeKey}"},
                },
            }
            alias = {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": {"Ref": logical},
                    "FunctionVersion": {"Fn::GetAtt": [f"{logical}Version", "Version"]},
                    "Name": mapping.alias,
                },
            }
            fragment += [
                ("Resources", f"{logical}Version", version),
                ("Resources", f"{logical}Alias", alias),
            ]
        return fragment

    def event_source_mapping(self, record: EventSourceMapping, plan: AwsPlan) -> Fragment:
        """An ``AWS::Lambda::EventSourceMapping`` (to the alias with SnapStart)."""
        function = logical_id(LambdaFunction, record.function)
        properties: dict[str, Any] = {
            "EventSourceArn": arn(SqsQueue, record.queue),
            "FunctionName": {"Ref": f"{function}Alias" if record.alias else function},
            **mapping_settings(record),
            "Enabled": record.enabled,
        }
        resource = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": properties}
        return [("Resources", logical_id(EventSourceMapping, record.name), resource)]

    def rule(self, record: ScheduleRule, plan: AwsPlan) -> Fragment:
        """An ``AWS::Events::Rule`` targeting the queue."""
        target: dict[str, Any] = {
            "Id": record.target_id,
            "Arn": arn(SqsQueue, record.queue),
            "InputTransformer": {
                "InputPathsMap": dict(record.input_paths),
                "InputTemplate": record.input_template,
            },
        }
        if record.message_group_id is not None:
            target["SqsParameters"] = {"MessageGroupId": record.message_group_id}
        resource = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": self.names.value(record.rule_name),
                "Description": record.description,
                "ScheduleExpression": record.expression,
                "State": "ENABLED",
                "Targets": [target],
            },
        }
        return [("Resources", logical_id(ScheduleRule, record.name), resource)]


def parameters(plan: AwsPlan) -> dict[str, Any]:
    """The stage, and where the uploaded zip is."""
    return {
        "Stage": {
            "Type": "String",
            "Description": plan.stage_description,
            "AllowedPattern": plan.stage_pattern,
            "ConstraintDescription": "1 to 12 lower-case letters, digits and inner hyphens",
        },
        "CodeBucket": {
            "Type": "String",
            "Description": "S3 bucket holding the zip built by `dispatcher package`",
        },
        "CodeKey": {
            "Type": "String",
            "Description": "S3 key of that zip (a new key for each build)",
        },
    }


def stage_output() -> dict[str, Any]:
    """The stage, for producers' ``DISPATCHER_STAGE``."""
    return {"Description": "The stage (DISPATCHER_STAGE for producers)", "Value": {"Ref": "Stage"}}


class CloudFormationRenderer(Renderer[Fragment]):
    """``cloudformation.yaml``: a plain CloudFormation template."""

    format = "cloudformation"
    provider = "aws"
    filename = "cloudformation.yaml"

    def __init__(self) -> None:
        self.resources = CloudFormationResources()

    def handlers(self) -> Mapping[type, Callable[[Any, Any], Fragment]]:
        return self.resources.handlers()

    def template(self, plan: AwsPlan) -> dict[str, Any]:
        """The template as data."""
        sections = merge(self.fragments(plan))
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"faas-dispatcher app {plan.deployment.app}: queues, workers, results",
            "Parameters": parameters(plan),
            "Resources": sections.get("Resources", {}),
            "Outputs": {"Stage": stage_output(), **sections.get("Outputs", {})},
        }

    def render(self, plan: AwsPlan) -> dict[str, str]:
        text = render_template(
            TEMPLATES,
            "cloudformation.yaml.j2",
            deployment=plan.deployment,
            format=self.format,
            body=to_yaml(self.template(plan)),
        )
        return {self.filename: text}
