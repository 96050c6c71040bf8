"""boto3 clients, one per service, created lazily and shared by the backend's parts.

boto3 is imported on first use only, so that importing the adapter (or the Lambda entrypoint)
costs nothing until a client is needed; a missing boto3 raises
:class:`~dispatcher.errors.MissingDependency` with the install hint.

The SQS client skips botocore's client-side parameter validation (``parameter_validation``,
https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html): this
adapter builds every SQS request itself, and SQS validates each one again. Measured by
``benchmarks/aws.py`` (``sqs_batch_vs_boto3_batch``), it cost a batch of ten messages about
150 us of CPU, half of what the rest of ``.map()`` costs.
"""

from __future__ import annotations

import threading
from typing import Any

from adapters.aws.config import AwsConfig
from dispatcher.errors import MissingDependency

#: Services whose requests the adapter alone builds: botocore does not validate them again.
UNVALIDATED = frozenset({"sqs"})


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

    def use(self, service: str, client: Any) -> None:
        """Use ``client`` for ``service`` from now on (tests wrap a real client in one that
        makes a call fail)."""
        with self._lock:
            self._clients[service] = client

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
        if service in UNVALIDATED:
            from botocore.config import Config

            kwargs["config"] = Config(parameter_validation=False)
        return boto3.session.Session().client(service, **kwargs)

    def close(self) -> None:
        """Close every client created so far."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
