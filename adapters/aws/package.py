"""What a Lambda function's zip holds (``dispatcher package APP --provider aws``): the
``adapters.aws`` runtime without its tooling, dependencies built for Lambda's platform, and no
copy of what Lambda's Python runtime already has (boto3 and its dependencies).

Lambda's Python runtimes (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html,
read 2026-11-27): ``python3.14`` (released 2025-11-18) and ``python3.13`` until 2029-06-30,
``python3.12`` until 2028-10-31, ``python3.11`` deprecated on 2026-06-30 (still accepted, its
functions still run, but AWS stops patching it); each on Amazon Linux 2023, for ``x86_64`` and
``arm64``. Our code needs Python 3.11 or newer, and pydantic-core publishes manylinux2014 wheels
for all four. The default is ``python3.13``, the newest that every generated format deploys:
the hashicorp/aws provider 5.x the generated Terraform requires (its last release, 5.100.0,
is what ``terraform validate`` runs here) refuses ``python3.14``; ``--runtime python3.14``
is offered for the other formats. SnapStart works on ``python3.12`` and later
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html).
"""

from __future__ import annotations

from dispatcher.deploy.package import Architecture, Packager

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
        "adapters/aws/local_scheduler.py",
    ),
    runtimes={
        "python3.14": (3, 14),
        "python3.13": (3, 13),
        "python3.12": (3, 12),
        "python3.11": (3, 11),
    },
    default_runtime="python3.13",
    architectures={
        "x86_64": Architecture(machine="x86_64", platform="manylinux2014_x86_64"),
        "arm64": Architecture(machine="aarch64", platform="manylinux2014_aarch64"),
    },
    default_architecture="x86_64",
    archive="{app}-lambda.zip",
)

#: The runtimes SnapStart supports.
SNAPSTART_RUNTIMES = frozenset({"python3.12", "python3.13", "python3.14"})
#: The runtimes the hashicorp/aws provider 5.x accepts (the generated Terraform requires 5.x).
TERRAFORM_RUNTIMES = frozenset({"python3.11", "python3.12", "python3.13"})
