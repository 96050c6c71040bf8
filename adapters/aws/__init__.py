"""The AWS backend: SQS queues fed to Lambda functions, results in DynamoDB, large bodies in S3.

Spec: ``aws`` (region from ``AWS_REGION``/``AWS_DEFAULT_REGION``) or ``aws://REGION``; the
endpoint comes from ``AWS_ENDPOINT_URL`` (moto, LocalStack). The plug-in object is in
``plugin.py``; boto3 is imported on first use. The Lambda entrypoint is
``adapters.aws.entrypoint.handler``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.aws.producer import AwsBackend
    from dispatcher.app import Dispatcher


def from_spec(spec: str, app: Dispatcher) -> AwsBackend:
    """The backend for ``aws`` or ``aws://REGION``."""
    import importlib.util

    from adapters.aws.config import AwsConfig
    from adapters.aws.producer import AwsBackend
    from dispatcher.errors import MissingDependency

    if importlib.util.find_spec("boto3") is None:
        raise MissingDependency("boto3", "aws")
    return AwsBackend(app, AwsConfig.from_spec(spec))


__all__ = ["from_spec"]
