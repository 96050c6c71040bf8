"""Names of the cloud resources an app uses: the one place that builds them from the app's name
and the deployment's stage, shared by the adapters (which call the resources) and the
infrastructure generators (which create them), so that what is deployed and what is called
always agree.

The convention every provider follows:

- The **prefix** is the app's name, then the stage when there is one: ``shop`` or ``shop-dev``.
  The stage lets one account hold several deployments of an app (dev, staging, prod). It is
  1 to 12 lower-case letters, digits or inner hyphens (:data:`STAGE_PATTERN`).
- Every resource name is the prefix, a hyphen and the resource's own part: ``shop-dev-payments``
  (a task queue), ``shop-dev-payments-dlq``, ``shop-dev-results``, ``shop-dev-payments-worker``;
  a provider's own resources follow the same form (``shop-dev-payments-worker-role``).
- A name that must be unique beyond one account (an S3 or GCS bucket) ends with the account
  (project, subscription) and the region: ``shop-dev-claims-123456789012-eu-west-1``, as SAM and
  Serverless make their buckets unique.
- The runtime reads the stage from ``DISPATCHER_STAGE`` (:data:`STAGE_ENV`; unset or empty means
  no stage), in the functions' environment (the generated infrastructure sets it) and in a
  producer's. The generated infrastructure takes the stage as a parameter of each format: a
  CloudFormation/SAM parameter ``Stage``, a Terraform variable ``stage``, Serverless's own
  ``--stage``.

A :class:`Name` is a name before its deployment is known: writers print it with the stage,
account and region in their own syntax (``${Stage}``, ``var.stage``...), the runtime resolves
it with the values it has. Cheap to import: the Lambda cold path uses it.
"""

from __future__ import annotations

import os
import re

from dispatcher.records import Record, setattr_

#: The environment variable that tells a cloud function which app to load (``module:attr``).
APP_ENV = "DISPATCHER_APP"
#: The environment variable naming the deployment's stage (unset or empty: no stage).
STAGE_ENV = "DISPATCHER_STAGE"
#: What a stage may be: 1 to 12 lower-case letters and digits, with inner hyphens; valid in the
#: names of every service we create (S3 buckets are the strictest).
STAGE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$"
MAX_STAGE_LENGTH = 12
#: Characters an account id has at most (AWS: 12 digits).
MAX_ACCOUNT_LENGTH = 12
#: Characters a region name has at most (AWS: ``ap-southeast-1``, ``eusc-de-east-1``).
MAX_REGION_LENGTH = 14

_STAGE = re.compile(STAGE_PATTERN)


class InvalidStage(ValueError):
    """A stage that cannot be part of resource names."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        super().__init__(
            f"stage {stage!r} is not valid: use 1 to {MAX_STAGE_LENGTH} lower-case letters, "
            "digits and inner hyphens (like dev or prod-eu)"
        )


def check_stage(stage: str | None) -> str | None:
    """``stage`` if it is valid (``None`` and ``""`` mean no stage); :class:`InvalidStage`."""
    if not stage:
        return None
    if not _STAGE.match(stage):
        raise InvalidStage(stage)
    return stage


def stage_from_environment() -> str | None:
    """The stage ``DISPATCHER_STAGE`` names, or ``None``; :class:`InvalidStage` if invalid."""
    return check_stage(os.environ.get(STAGE_ENV))


def prefix(app: str, stage: str | None = None) -> str:
    """What every resource name of ``app`` starts with: ``shop`` or ``shop-dev``."""
    stage = check_stage(stage)
    return f"{app}-{stage}" if stage else app


class Name(Record):
    """A resource name of ``app`` before its deployment is known:
    ``{app}[-{stage}]-{part}[-{account}-{region}]{suffix}``.

    ``scoped`` names end with the account and the region (names that must be unique across
    accounts); ``suffix`` is a provider's fixed ending (``.fifo`` for an SQS FIFO queue)."""

    FIELDS = ("app", "part", "suffix", "scoped")
    __slots__ = FIELDS
    app: str
    part: str
    suffix: str
    scoped: bool

    def __init__(self, app: str, part: str, suffix: str = "", scoped: bool = False) -> None:
        setattr_(self, "app", app)
        setattr_(self, "part", part)
        setattr_(self, "suffix", suffix)
        setattr_(self, "scoped", scoped)

    def render(self, stage: str, account: str = "", region: str = "") -> str:
        """The name with the stage, account and region given as text: ``stage`` is what
        follows the app (``-dev``, ``""``, or a writer's expression for either)."""
        scope = f"-{account}-{region}" if self.scoped else ""
        return f"{self.app}{stage}-{self.part}{scope}{self.suffix}"

    def resolve(
        self, stage: str | None = None, account: str | None = None, region: str | None = None
    ) -> str:
        """The name for one deployment; a scoped name needs the account and region."""
        stage = check_stage(stage)
        if self.scoped and not (account and region):
            raise ValueError(f"the name of {self.part!r} needs the account and the region")
        return self.render(f"-{stage}" if stage else "", account or "", region or "")

    def longest(self) -> int:
        """Its length with the longest stage, account and region allowed."""
        return len(
            self.render(
                "-" + "s" * MAX_STAGE_LENGTH, "a" * MAX_ACCOUNT_LENGTH, "r" * MAX_REGION_LENGTH
            )
        )

    def extended(self, part: str) -> Name:
        """A name of a resource belonging to this one: ``shop-payments-worker`` ->
        ``shop-payments-worker-role`` (same app and stage; no suffix, unscoped)."""
        return Name(self.app, f"{self.part}-{part}")


def name(app: str, part: str) -> Name:
    """The name of a resource of ``app`` that only one provider has (a role, a log group)."""
    return Name(app, part)


def queue(app: str, queue: str, ordered: bool = False) -> Name:
    """The provider queue of a task queue (``.fifo`` when ordered, for SQS)."""
    return Name(app, queue, ".fifo" if ordered else "")


def dead_letter_queue(app: str, queue: str, ordered: bool = False) -> Name:
    """The dead-letter queue of a task queue."""
    return Name(app, f"{queue}-dlq", ".fifo" if ordered else "")


def results_table(app: str) -> Name:
    """The result and idempotency table."""
    return Name(app, "results")


def claim_check_bucket(app: str, *, scoped: bool = False) -> Name:
    """The bucket (or container) for message bodies too large for the queue; ``scoped`` for a
    globally unique bucket name, which ends with the account and region (and says ``claims``
    rather than ``claim-checks`` to stay within S3's 63 characters)."""
    return Name(app, "claims", scoped=True) if scoped else Name(app, "claim-checks")


def function(app: str, queue: str) -> Name:
    """The cloud function that runs a task queue's messages."""
    return Name(app, f"{queue}-worker")


def queue_name(app: str, queue_: str, ordered: bool = False, *, stage: str | None = None) -> str:
    """``shop-payments``, ``shop-dev-payments`` (``.fifo`` when ordered, for SQS)."""
    return queue(app, queue_, ordered).resolve(stage)


def dead_letter_queue_name(
    app: str, queue_: str, ordered: bool = False, *, stage: str | None = None
) -> str:
    """``shop-payments-dlq``, ``shop-dev-payments-dlq``."""
    return dead_letter_queue(app, queue_, ordered).resolve(stage)


def results_table_name(app: str, *, stage: str | None = None) -> str:
    """``shop-results``, ``shop-dev-results``."""
    return results_table(app).resolve(stage)


def claim_check_bucket_name(
    app: str,
    *,
    stage: str | None = None,
    account: str | None = None,
    region: str | None = None,
) -> str:
    """``shop-claim-checks``; with an account and region, the globally unique
    ``shop-claims-123456789012-eu-west-1`` (``shop-dev-claims-...`` with a stage)."""
    if account is None and region is None:
        return claim_check_bucket(app).resolve(stage)
    return claim_check_bucket(app, scoped=True).resolve(stage, account, region)


def function_name(app: str, queue_: str, *, stage: str | None = None) -> str:
    """``shop-payments-worker``, ``shop-dev-payments-worker``."""
    return function(app, queue_).resolve(stage)
