"""Where the AWS backend talks to: region, endpoint, and lazily created boto3 clients.

boto3 is imported on first use only, so that importing the adapter (or the Lambda handler)
costs nothing until a client is needed; a missing boto3 raises
:class:`~dispatcher.errors.MissingDependency` with the install hint.
"""

from __future__ import annotations

import os
import threading
from typing import Any, NamedTuple

from dispatcher.errors import BackendNotConfigured, MissingDependency

ENDPOINT_ENV = "AWS_ENDPOINT_URL"


class AwsConfig(NamedTuple):
    """The region and (optional) endpoint every client of the backend uses."""

    region: str
    endpoint: str | None = None

    @classmethod
    def from_spec(cls, spec: str) -> AwsConfig:
        """``aws`` (region from ``AWS_REGION``/``AWS_DEFAULT_REGION``) or ``aws://REGION``;
        the endpoint comes from ``AWS_ENDPOINT_URL`` (moto, LocalStack) when set."""
        scheme, _, rest = spec.partition(":")
        if scheme.strip().lower() != "aws":
            raise BackendNotConfigured(f"not an AWS backend spec: {spec!r}")
        region = rest.removeprefix("//").strip("/ ")
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "")
        if not region:
            raise BackendNotConfigured(
                "no AWS region: use the backend spec aws://REGION or set AWS_REGION"
            )
        if not all(part.isalnum() for part in region.split("-")) or region.count("-") < 2:
            raise BackendNotConfigured(f"{region!r} is not an AWS region (like eu-west-1)")
        return cls(region=region, endpoint=os.environ.get(ENDPOINT_ENV) or None)


class Clients:
    """One lazily created boto3 client per service, shared by the backend's parts."""

    def __init__(self, config: AwsConfig) -> None:
        self.config = config
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        """The client for ``service`` (``sqs``, ``dynamodb``, ``s3``), created on first use."""
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._clients[service] = self._create(service)
        return client

    @property
    def sqs(self) -> Any:
        """The SQS client."""
        return self.get("sqs")

    @property
    def dynamodb(self) -> Any:
        """The DynamoDB client."""
        return self.get("dynamodb")

    @property
    def s3(self) -> Any:
        """The S3 client."""
        return self.get("s3")

    def _create(self, service: str) -> Any:
        try:
            import boto3
        except ModuleNotFoundError:
            raise MissingDependency("boto3", "aws") from None
        kwargs: dict[str, Any] = {"region_name": self.config.region}
        if self.config.endpoint:
            kwargs["endpoint_url"] = self.config.endpoint
        return boto3.session.Session().client(service, **kwargs)

    def close(self) -> None:
        """Close every client created so far."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
