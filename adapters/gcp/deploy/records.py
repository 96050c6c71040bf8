"""What the GCP policy decides: plain records the format writers print and never recompute.

Each record is one Google Cloud resource (or a grant) with every value already chosen.
``name`` is the neutral model resource it comes from (or a fixed name for the app-wide
accounts); writers derive their identifiers from it. Names of cloud resources are
:class:`~dispatcher.naming.Name` values (the app's name, the stage, the resource's part, and
for a global name the project and the location), which each format prints with its own
parameters; values known only when deployed (the project, the bucket, an account's e-mail)
are symbolic :data:`Setting` values, so that each format writes them in its own syntax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from dispatcher.deploy.model import Deployment
from dispatcher.deploy.policy import Skip
from dispatcher.naming import Name


@dataclass(frozen=True, slots=True)
class Text:
    """A value known now."""

    text: str


@dataclass(frozen=True, slots=True)
class Project:
    """The project id the app is deployed to."""


@dataclass(frozen=True, slots=True)
class Region:
    """The region its queues, services and jobs live in."""


@dataclass(frozen=True, slots=True)
class Stage:
    """The deployment's stage (empty for none)."""


@dataclass(frozen=True, slots=True)
class BucketName:
    """The name of the app's bucket (its :class:`Bucket` record's, hashed down to 63)."""


@dataclass(frozen=True, slots=True)
class AccountEmail:
    """The e-mail of the :class:`ServiceAccount` record called ``account``."""

    account: str


@dataclass(frozen=True, slots=True)
class ServiceUrlTemplate:
    """The URL of any of the app's services, with ``{service}`` for the service's name (Cloud
    Run's deterministic URL, ``https://SERVICE-PROJECT_NUMBER.REGION.run.app``)."""


@dataclass(frozen=True, slots=True)
class Joined:
    """Several settings written one after the other (``gcp://`` + project + ``/`` + region)."""

    parts: tuple[Setting, ...]


Setting: TypeAlias = (
    "Text | Project | Region | Stage | BucketName | AccountEmail | ServiceUrlTemplate | Joined"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRetry:
    """A Cloud Tasks queue's retry schedule: ``min_backoff`` doubled ``max_doublings`` times,
    then linear, capped at ``max_backoff``; at most ``max_attempts`` dispatches.
    ``max_retry_duration`` 0 means attempts alone decide."""

    max_attempts: int
    min_backoff: float
    max_backoff: float
    max_doublings: int
    max_retry_duration: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TasksQueue:
    """A Cloud Tasks queue with its rate limits and retry schedule."""

    name: str
    queue: Name
    description: str
    max_dispatches_per_second: float
    max_concurrent_dispatches: int
    retry: QueueRetry
    log_sampling_ratio: float


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """Objects under ``prefix`` are deleted ``age_days`` after they were last written."""

    prefix: str
    age_days: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    """The app's bucket: results and claims, dedup holds, dead letters and claim checks,
    each under its prefix and expiring by its own rule."""

    name: str
    bucket: Name
    description: str
    storage_class: str
    uniform_access: bool
    public_access_prevention: str
    soft_delete_seconds: int
    rules: tuple[LifecycleRule, ...]
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAccount:
    """A service account: ``account`` is its id before the prefix and any shortening."""

    name: str
    account: Name
    display_name: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudRunService:
    """The Cloud Run service that runs one queue's tasks: the receiver's image (built from
    ``dispatcher package --provider gcp``, whose command serves it on ``port``)."""

    name: str
    service: Name
    description: str
    image_variable: str
    port: int
    memory_mb: int
    cpu: str
    timeout_seconds: int
    concurrency: int
    min_instances: int
    max_instances: int
    account: str
    environment: Mapping[str, Setting]
    ingress: str
    deletion_protection: bool
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokerGrant:
    """``role`` on a Cloud Run service for one account (the invoker may call only it)."""

    name: str
    service: str
    role: str
    account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueGrant:
    """``role`` on each of ``queues`` (Cloud Tasks queues) for one account."""

    name: str
    queues: tuple[str, ...]
    role: str
    account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketGrant:
    """``role`` on the app's bucket for one account, limited to objects under ``prefixes``
    (an IAM condition) when there are any."""

    name: str
    role: str
    account: str
    prefixes: tuple[str, ...]
    condition_title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActAsGrant:
    """``role`` on the service account ``target`` for ``account``: creating a task whose
    OIDC token names ``target`` requires acting as it."""

    name: str
    target: str
    role: str
    account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerJob:
    """A Cloud Scheduler job pushing a periodic task's slot to its service
    (``POST URL/schedules/TASK``) with the invoker's OIDC token."""

    name: str
    job: Name
    description: str
    schedule: str
    time_zone: str
    service: str
    path: str
    attempt_deadline_seconds: int
    retry_count: int
    account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProducerSettings:
    """What a producer (a web app, a script) sets to send tasks, and the account it runs as."""

    name: str
    description: str
    environment: Mapping[str, Setting]
    account: str


Record: TypeAlias = (
    "TasksQueue | Bucket | ServiceAccount | CloudRunService | InvokerGrant | QueueGrant"
    " | BucketGrant | ActAsGrant | SchedulerJob | ProducerSettings"
)

#: Every record type, for writers to prove they print them all.
RECORD_TYPES: tuple[type, ...] = (
    TasksQueue,
    Bucket,
    ServiceAccount,
    CloudRunService,
    InvokerGrant,
    QueueGrant,
    BucketGrant,
    ActAsGrant,
    SchedulerJob,
    ProducerSettings,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class GcpPlan:
    """Everything decided for one deployment: the records in dependency order, and the
    deployment-wide values."""

    deployment: Deployment
    records: Sequence[Record]

    def of_type(self, kind: type[T]) -> list[T]:
        """Every record of one type, in order."""
        return [r for r in self.records if isinstance(r, kind)]

    def get(self, kind: type[T], name: str) -> T:
        """The record of type ``kind`` decided for ``name``."""
        for record in self.records:
            if isinstance(record, kind) and getattr(record, "name", None) == name:
                return record
        raise KeyError(f"{kind.__name__} {name!r}")
