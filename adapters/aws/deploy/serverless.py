"""``serverless.yml`` for Serverless Framework 3: functions with their SQS events, the other
resources as CloudFormation under ``resources``. Names follow Serverless's own stage
(``shop-${sls:stage}-payments``; ``--stage``, ``dev`` by default). Only writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.aws.deploy.cloudformation import (
    TEMPLATES,
    CloudFormationResources,
    Fragment,
    Names,
    arn,
    env_value,
    merge,
)
from adapters.aws.deploy.names import camel
from adapters.aws.deploy.records import (
    AwsPlan,
    EventSourceMapping,
    IamRole,
    LambdaFunction,
    LogGroup,
    SqsQueue,
)
from dispatcher.deploy.model import Worker
from dispatcher.deploy.render import Renderer
from dispatcher.deploy.text import render_template, to_yaml
from dispatcher.naming import Name

#: Serverless's stage variable, resolved by Serverless before CloudFormation sees the template.
SLS_STAGE = "${sls:stage}"


class ServerlessNames(Names):
    """Names with Serverless's stage: plain text where no CloudFormation value is needed,
    ``Fn::Sub`` for those with the account and region."""

    stage = f"-{SLS_STAGE}"

    def value(self, name: Name, prefix: str = "") -> Any:
        text = self.text(name, prefix)
        return {"Fn::Sub": text} if name.scoped else text

    def stage_value(self) -> Any:
        return SLS_STAGE


def function_key(plan: AwsPlan, function: str) -> str:
    """The key of a function under ``functions:``: its queue's name in lowerCamelCase."""
    worker = plan.deployment.get(function)
    assert isinstance(worker, Worker)
    key = camel(worker.queue)
    return key[:1].lower() + key[1:]


class ServerlessRenderer(Renderer[Fragment]):
    """``serverless.yml``."""

    format = "serverless"
    provider = "aws"
    filename = "serverless.yml"

    def __init__(self) -> None:
        self.names = ServerlessNames()
        self.resources = CloudFormationResources(self.names)

    def handlers(self) -> Mapping[type, Callable[[Any, Any], Fragment]]:
        return {
            **self.resources.handlers(),
            LogGroup: self.log_group,
            LambdaFunction: self.function,
            EventSourceMapping: self.event,
        }

    def log_group(self, record: LogGroup, plan: AwsPlan) -> Fragment:
        """Nothing: Serverless makes each function's log group (``logRetentionInDays``)."""
        return []

    def function(self, record: LambdaFunction, plan: AwsPlan) -> Fragment:
        """A function entry."""
        function: dict[str, Any] = {
            "name": self.names.value(record.function_name),
            "description": record.description,
            "handler": record.handler,
            "memorySize": record.memory_mb,
            "timeout": record.timeout,
            "role": arn(IamRole, record.role),
            "environment": {
                key: env_value(value, self.names) for key, value in record.environment.items()
            },
        }
        if record.reserved_concurrency is not None:
            function["reservedConcurrency"] = record.reserved_concurrency
        if record.snapstart:
            function["snapStart"] = True
        return [("functions", function_key(plan, record.name), function)]

    def event(self, record: EventSourceMapping, plan: AwsPlan) -> Fragment:
        """An ``sqs`` event of the function."""
        event: dict[str, Any] = {"arn": arn(SqsQueue, record.queue), "batchSize": record.batch_size}
        if record.batching_window is not None:
            event["maximumBatchingWindow"] = record.batching_window
        for response_type in record.response_types:
            event["functionResponseType"] = response_type
        if record.max_concurrency is not None:
            event["maximumConcurrency"] = record.max_concurrency
        return [("events", function_key(plan, record.function), {"sqs": event})]

    def config(self, plan: AwsPlan) -> dict[str, Any]:
        """The serverless.yml content as data."""
        sections = merge(self.fragments(plan))
        functions = sections.get("functions", {})
        for key, event in sections.get("events", {}).items():
            functions[key]["events"] = [event]
        return {
            "service": plan.deployment.app,
            "frameworkVersion": "3",
            "provider": {
                "name": "aws",
                "runtime": plan.runtime,
                "architecture": plan.architecture,
                "region": "${opt:region, 'us-east-1'}",
                "stage": "${opt:stage, 'dev'}",
                "logRetentionInDays": plan.log_retention_days,
            },
            "package": {"artifact": plan.artifact},
            "functions": functions,
            "resources": {
                "Resources": sections.get("Resources", {}),
                "Outputs": {
                    "Stage": {
                        "Description": "The stage (DISPATCHER_STAGE for producers)",
                        "Value": SLS_STAGE,
                    },
                    **sections.get("Outputs", {}),
                },
            },
        }

    def render(self, plan: AwsPlan) -> dict[str, str]:
        text = render_template(
            TEMPLATES,
            "serverless.yml.j2",
            deployment=plan.deployment,
            format=self.format,
            body=to_yaml(self.config(plan)),
        )
        return {self.filename: text}
