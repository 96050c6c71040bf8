"""The AWS backend: SQS queues fed to Lambda functions, results in DynamoDB, large bodies in S3.

Spec: ``aws`` (region from ``AWS_REGION``/``AWS_DEFAULT_REGION``) or ``aws://REGION``; the
endpoint comes from ``AWS_ENDPOINT_URL`` (moto, LocalStack). This module only names the
plug-in; boto3 is imported on first use. The Lambda entrypoint is
``adapters.aws.entrypoint.handler``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.plugins import Plugin

if TYPE_CHECKING:
    from adapters.aws.producer import AwsBackend
    from dispatcher.app import Dispatcher

PLUGIN = Plugin(
    name="aws",
    description="SQS queues -> Lambda functions; results in DynamoDB, large bodies in S3",
    schemes=("aws",),
    backend="adapters.aws:from_spec",
    entrypoints={"lambda": "adapters.aws.entrypoint:handler"},
    commands=("adapters.aws.emulate:register",),
    formats={
        "terraform": "adapters.aws.deploy.terraform:TerraformRenderer",
        "cloudformation": "adapters.aws.deploy.cloudformation:CloudFormationRenderer",
        "sam": "adapters.aws.deploy.sam:SamRenderer",
        "serverless": "adapters.aws.deploy.serverless:ServerlessRenderer",
    },
    policy="adapters.aws.deploy.policy:POLICY",
    packager="adapters.aws.package:PACKAGER",
    extra="aws",
)


def from_spec(spec: str, app: Dispatcher) -> AwsBackend:
    """The backend for ``aws`` or ``aws://REGION``."""
    import importlib.util

    from adapters.aws.config import AwsConfig
    from adapters.aws.producer import AwsBackend
    from dispatcher.errors import MissingDependency

    if importlib.util.find_spec("boto3") is None:
        raise MissingDependency("boto3", "aws")
    return AwsBackend(app, AwsConfig.from_spec(spec))


__all__ = ["PLUGIN", "from_spec"]
