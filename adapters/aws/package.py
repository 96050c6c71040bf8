"""What a Lambda function's zip holds (``dispatcher package APP --provider aws``): the
``adapters.aws`` runtime without its tooling, and no copy of what Lambda's Python runtime
already has (boto3 and its dependencies)."""

from __future__ import annotations

from dispatcher.deploy.package import Packager, Target

PACKAGER = Packager(
    platform="AWS Lambda",
    packages=("adapters.aws",),
    provided=frozenset(
        {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}
    ),
    # Generators, the emulator and the local Lambda runtime: nothing a function imports.
    excluded=(
        "adapters/aws/deploy/",
        "adapters/aws/package.py",
        "adapters/aws/emulate.py",
        "adapters/aws/provision.py",
        "adapters/aws/runtime.py",
    ),
    target=Target(system="Linux", machine="x86_64", python=(3, 11)),
    archive="{app}-lambda.zip",
)
