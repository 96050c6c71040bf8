"""``sam.yaml``: the CloudFormation template with each function an
``AWS::Serverless::Function`` whose SQS event replaces the event source mapping. Only writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.aws.deploy.cloudformation import (
    CloudFormationRenderer,
    Fragment,
    arn,
    logical_id,
    mapping_settings,
    merge,
)
from adapters.aws.deploy.records import AwsPlan, EventSourceMapping, LambdaFunction, SqsQueue


class SamRenderer(CloudFormationRenderer):
    """``sam.yaml`` (capabilities CAPABILITY_IAM and CAPABILITY_AUTO_EXPAND)."""

    format = "sam"
    filename = "sam.yaml"

    def handlers(self) -> Mapping[type, Callable[[Any, Any], Fragment]]:
        return {
            **self.resources.handlers(),
            LambdaFunction: self.function,
            EventSourceMapping: self.event,
        }

    def function(self, record: LambdaFunction, plan: AwsPlan) -> Fragment:
        """A serverless function (its events come from the mappings); with SnapStart, SAM
        publishes a version per code change and points its alias and events at it."""
        code = {"CodeUri": {"Bucket": {"Ref": "CodeBucket"}, "Key": {"Ref": "CodeKey"}}}
        resource = self.resources.function_resource(
            record, "AWS::Serverless::Function", code, code_last=True
        )
        if record.snapstart:
            [mapping] = [m for m in plan.of_type(EventSourceMapping) if m.function == record.name]
            resource["Properties"]["AutoPublishAlias"] = mapping.alias
        return [("Resources", logical_id(LambdaFunction, record.name), resource)]

    def event(self, record: EventSourceMapping, plan: AwsPlan) -> Fragment:
        """An SQS event of the function."""
        event = {
            "Type": "SQS",
            "Properties": {
                "Queue": arn(SqsQueue, record.queue),
                **mapping_settings(record),
                "Enabled": record.enabled,
            },
        }
        return [("Events", logical_id(LambdaFunction, record.function), event)]

    def template(self, plan: AwsPlan) -> dict[str, Any]:
        template = super().template(plan)
        events = merge(self.fragments(plan)).get("Events", {})
        for function, event in events.items():
            template["Resources"][function]["Properties"]["Events"] = {"Queue": event}
        return {"Transform": "AWS::Serverless-2016-10-31", **template}
