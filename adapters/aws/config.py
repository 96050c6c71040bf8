"""Where the AWS backend talks to: the region and the endpoint, from the spec and the
environment."""

from __future__ import annotations

import os
from typing import NamedTuple

from dispatcher.errors import BackendNotConfigured

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
