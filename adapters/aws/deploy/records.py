"""What the AWS policy decides: plain records the format writers print and never recompute.

Each record is one AWS resource (or two that only exist together, such as a queue and its
redrive) with every value already chosen. ``name`` is the neutral model resource it comes from;
each writer derives its own identifiers from it (CloudFormation logical ids, Terraform
addresses). Resource names are :class:`~dispatcher.naming.Name` values (the stage, account and
region are the deployment's: each format writes them as its own parameters), and references to
other resources are symbolic (:class:`Arn`, :class:`ObjectsArn`, :class:`LogGroupArn`,
:class:`SchedulesArn`, :class:`Stage`, :class:`Account`), so that each format writes them in its
own syntax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from dispatcher.deploy.model import Deployment
from dispatcher.deploy.policy import Skip
from dispatcher.naming import Name


@dataclass(frozen=True, slots=True)
class Arn:
    """The ARN of the record of type ``kind`` called ``name``."""

    kind: type[Record]
    name: str


@dataclass(frozen=True, slots=True)
class ObjectsArn:
    """Every object of a bucket: ``<bucket ARN>/*``."""

    bucket: str


@dataclass(frozen=True, slots=True)
class LogGroupArn:
    """The log streams of a function's log group: ``<log group ARN>:*``."""

    function: str


@dataclass(frozen=True, slots=True)
class SchedulesArn:
    """Every schedule of a schedule group: ``arn:...:schedule/<group>/*``."""

    group: str


@dataclass(frozen=True, slots=True)
class Stage:
    """The deployment's stage, as the format takes it (a parameter, a variable)."""


@dataclass(frozen=True, slots=True)
class Account:
    """The id of the account the deployment is in."""


Ref: TypeAlias = "Arn | ObjectsArn | LogGroupArn | SchedulesArn"
#: What a function's environment variable holds: text, a name, an ARN, the stage, the account.
EnvValue: TypeAlias = "str | Name | Arn | Stage | Account"


@dataclass(frozen=True, slots=True)
class Redrive:
    """Where SQS itself moves a message after ``max_receive_count`` receives."""

    dead_letter: str
    max_receive_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SqsDeadLetterQueue:
    """An SQS queue holding dead letters."""

    name: str
    queue_name: Name
    fifo: bool
    content_based_deduplication: bool
    retention_seconds: int
    managed_encryption: bool
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SqsQueue:
    """An SQS task queue with its redrive; ``url_output`` describes its exported URL."""

    name: str
    queue_name: Name
    fifo: bool
    content_based_deduplication: bool
    visibility_timeout: int
    retention_seconds: int
    managed_encryption: bool
    redrive: Redrive
    url_output: str
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True)
class ScheduleSender:
    """A queue policy statement letting one schedule rule send to the queue."""

    sid: str
    rule: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SqsQueuePolicy:
    """Who besides IAM roles may send to a queue: its schedule rules (EventBridge)."""

    name: str
    queue: str
    principal: str
    action: str
    senders: tuple[ScheduleSender, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamoTable:
    """The results and claims table: on demand, a string hash key, TTL."""

    name: str
    table_name: Name
    key: str
    key_type: str
    billing_mode: str
    ttl_attribute: str
    point_in_time_recovery: bool
    encrypted: bool
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Bucket:
    """The claim-check bucket: private, encrypted, its objects expiring."""

    name: str
    bucket_name: Name
    lifecycle_rule: str
    expire_after_days: int
    abort_multipart_after_days: int
    block_public_access: bool
    encryption_algorithm: str
    object_ownership: str
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """An IAM condition: ``{test: {key: value}}`` (``StringEquals``, ``iam:PassedToService``)."""

    test: str
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Statement:
    """One IAM statement: these actions on these resources (under a condition)."""

    actions: tuple[str, ...]
    resources: tuple[Ref, ...]
    condition: Condition | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IamRole:
    """A role an AWS service assumes (Lambda for a function, EventBridge Scheduler for long
    delays), with one inline least-privilege policy; ``same_account`` limits who may assume it
    to the service acting for this account (``aws:SourceAccount``)."""

    name: str
    role_name: Name
    service: str
    same_account: bool
    policy_name: str
    statements: tuple[Statement, ...]
    arn_output: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedPolicy:
    """A customer managed policy that others attach to themselves (producers), its ARN an
    output."""

    name: str
    policy_name: Name
    description: str
    statements: tuple[Statement, ...]
    arn_output: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleGroup:
    """The EventBridge Scheduler group holding the one-time schedules of long delays."""

    name: str
    group_name: Name
    name_output: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogGroup:
    """A function's log group (``prefix`` + the function's name), with a retention."""

    name: str
    prefix: str
    function_name: Name
    retention_days: int
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LambdaFunction:
    """A Lambda function running one queue's tasks."""

    name: str
    function_name: Name
    description: str
    runtime: str
    architecture: str
    handler: str
    memory_mb: int
    timeout: int
    role: str
    log_group: str
    environment: Mapping[str, EnvValue]
    reserved_concurrency: int | None
    snapstart: bool
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSourceMapping:
    """Feeds a queue to a function in batches; ``batching_window`` is ``None`` where the
    queue cannot have one (FIFO); ``alias`` names the function alias it invokes (SnapStart only
    works on published versions), else it invokes the function itself."""

    name: str
    queue: str
    function: str
    alias: str | None
    batch_size: int
    batching_window: int | None
    response_types: tuple[str, ...]
    max_concurrency: int | None
    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRule:
    """An EventBridge rule putting a fresh envelope on a queue on a schedule."""

    name: str
    rule_name: Name
    description: str
    expression: str
    queue: str
    target_id: str
    input_paths: Mapping[str, str]
    input_template: str
    message_group_id: str | None


Record: TypeAlias = (
    "SqsDeadLetterQueue | SqsQueue | SqsQueuePolicy | DynamoTable | S3Bucket | ScheduleGroup"
    " | IamRole | ManagedPolicy | LogGroup | LambdaFunction | EventSourceMapping | ScheduleRule"
)

#: Every record type, for writers to prove they print them all.
RECORD_TYPES: tuple[type, ...] = (
    SqsDeadLetterQueue,
    SqsQueue,
    SqsQueuePolicy,
    DynamoTable,
    S3Bucket,
    ScheduleGroup,
    IamRole,
    ManagedPolicy,
    LogGroup,
    LambdaFunction,
    EventSourceMapping,
    ScheduleRule,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsPlan:
    """Everything decided for one deployment: the records in dependency order, and the
    deployment-wide values (runtime, architecture, log retention, the package's path, the
    stage's pattern and the parameters' descriptions)."""

    deployment: Deployment
    records: Sequence[Record]
    runtime: str
    architecture: str
    log_retention_days: int
    artifact: str
    stage_pattern: str
    stage_description: str

    def of_type(self, kind: type[T]) -> list[T]:
        """Every record of one type, in order."""
        return [r for r in self.records if isinstance(r, kind)]

    def get(self, kind: type[T], name: str) -> T:
        """The record of type ``kind`` decided for model resource ``name``."""
        for record in self.records:
            if isinstance(record, kind) and getattr(record, "name", None) == name:
                return record
        raise KeyError(f"{kind.__name__} {name!r}")
