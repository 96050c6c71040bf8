"""The names and ARNs of one app's AWS resources in one deployment: :mod:`dispatcher.naming`
applied to the backend's stage, account and region, exactly as the generated infrastructure
names them (the deploy policy builds its names from the same functions).

The account is needed for the claim-check bucket (S3 names are global, so the bucket's ends with
the account and region) and for ARNs; it comes from ``DISPATCHER_AWS_ACCOUNT_ID`` (set on the
functions by the infrastructure), else from STS GetCallerIdentity on first use (a producer
outside AWS; the call needs no permission).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from adapters.aws.errors import translated
from dispatcher import naming

if TYPE_CHECKING:
    from adapters.aws.clients import Clients
    from adapters.aws.config import AwsConfig


class AwsNames:
    """The resource names of ``app`` for the deployment ``config`` names."""

    def __init__(self, app: str, config: AwsConfig, clients: Clients) -> None:
        self.app, self.config, self.clients = app, config, clients
        self._account = config.account
        self._lock = threading.Lock()

    @property
    def stage(self) -> str | None:
        """The deployment's stage (``None``: no stage)."""
        return self.config.stage

    @property
    def account(self) -> str:
        """The account id (from the environment, else asked of STS once)."""
        if self._account is None:
            with self._lock:
                if self._account is None:
                    with translated("finding the AWS account (STS GetCallerIdentity)"):
                        identity = self.clients.get("sts").get_caller_identity()
                    self._account = str(identity["Account"])
        return self._account

    def queue(self, queue: str, ordered: bool = False) -> str:
        """The SQS queue of task queue ``queue``."""
        return naming.queue_name(self.app, queue, ordered, stage=self.stage)

    def dead_letter_queue(self, queue: str, ordered: bool = False) -> str:
        """The dead-letter queue of task queue ``queue``."""
        return naming.dead_letter_queue_name(self.app, queue, ordered, stage=self.stage)

    def results_table(self) -> str:
        """The results table."""
        return naming.results_table_name(self.app, stage=self.stage)

    def claim_check_bucket(self) -> str:
        """The claim-check bucket (needs the account)."""
        return naming.claim_check_bucket_name(
            self.app, stage=self.stage, account=self.account, region=self.config.region
        )

    def queue_arn(self, name: str) -> str:
        """The ARN of the SQS queue called ``name`` (needs the account)."""
        return f"arn:{self.config.partition}:sqs:{self.config.region}:{self.account}:{name}"
