"""The AWS plug-in (:mod:`dispatcher.plugins`), in its own module: discovering
plug-ins imports this, while a function's cold start (which imports the package for its
entrypoint) does not pay for :mod:`dispatcher.plugins`."""

from __future__ import annotations

from dispatcher.plugins import Plugin

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

__all__ = ["PLUGIN"]
