"""Where the AWS backend talks to and which deployment it names: the region and the endpoint,
the stage and the account, from the spec and the environment."""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from dispatcher import naming
from dispatcher.errors import BackendNotConfigured

ENDPOINT_ENV = "AWS_ENDPOINT_URL"
#: The account the app's resources are in (the generated infrastructure sets it on the
#: functions); without it the account is asked of STS (GetCallerIdentity, which needs no
#: permission) the first time a name needs it.
ACCOUNT_ENV = "DISPATCHER_AWS_ACCOUNT_ID"
_ACCOUNT = re.compile(r"^\d{12}$")


class AwsConfig(NamedTuple):
    """The region and (optional) endpoint every client of the backend uses, the deployment's
    stage (``DISPATCHER_STAGE``) and, when the environment names it, its account."""

    region: str
    endpoint: str | None = None
    stage: str | None = None
    account: str | None = None

    @classmethod
    def from_spec(cls, spec: str) -> AwsConfig:
        """``aws`` (region from ``AWS_REGION``/``AWS_DEFAULT_REGION``) or ``aws://REGION``;
        the endpoint comes from ``AWS_ENDPOINT_URL`` (moto, LocalStack) when set, the stage
        from ``DISPATCHER_STAGE``, the account from ``DISPATCHER_AWS_ACCOUNT_ID``."""
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
        try:
            stage = naming.stage_from_environment()
        except naming.InvalidStage as error:
            raise BackendNotConfigured(f"{naming.STAGE_ENV}: {error}") from None
        account = os.environ.get(ACCOUNT_ENV) or None
        if account is not None and not _ACCOUNT.match(account):
            raise BackendNotConfigured(f"{ACCOUNT_ENV}={account!r} is not a 12-digit account id")
        return cls(
            region=region,
            endpoint=os.environ.get(ENDPOINT_ENV) or None,
            stage=stage,
            account=account,
        )

    @property
    def partition(self) -> str:
        """The ARN partition of the region: ``aws``, ``aws-cn``, ``aws-us-gov``."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"
