"""The AWS deploy policy: every AWS value decided once, from the neutral model.

Queues become SQS queues with a redrive to their DLQ, workers Lambda functions fed by SQS event
source mappings (``ReportBatchItemFailures``), results live in DynamoDB (TTL), large bodies in S3
(lifecycle expiry), long delays in an EventBridge Scheduler group (one-time schedules the
producers create, sent by the scheduler's own role), cron schedules are EventBridge rules that
put a fresh envelope on the task's queue (the event's id and time become the envelope's ``id``
and ``created_at``), each worker has its own IAM role limited to the app's queues, its table,
its bucket, its schedule group and its log group, and producers get a managed policy to attach.
The decisions are plain records (:mod:`adapters.aws.deploy.records`); the format writers
(CloudFormation, SAM, serverless.yml, Terraform) and ``dispatcher emulate aws``
(:mod:`adapters.aws.provision`) only carry them out.

Every resource name follows :mod:`dispatcher.naming`: the app's name, the deployment's stage
(a parameter of each format, required: ``Stage``, ``var.stage``, Serverless's ``--stage``),
the resource's part; the claim-check bucket also ends with the account and region. The
functions get the stage and the account in their environment (``DISPATCHER_STAGE``,
``DISPATCHER_AWS_ACCOUNT_ID``) so that the runtime builds the same names.

The platform rules it enforces, with their sources (moto enforces none of them):

- Lambda: 128-10,240 MB, at most 900 s
  (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); names of at most
  64 characters (https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html).
- A batch runs its records one after the other, so the function's timeout is the batch size
  times the longest a record may take (its task's timeout, or its pace under a rate limit) plus
  ``RESERVE_SECONDS`` to record results and settle the batch; the batch size is the largest
  (ten by default) whose records fit in 900 s, and a task that cannot fit even alone is refused.
- A queue feeding Lambda needs a visibility timeout of at least six times the function timeout
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html); SQS allows at most
  12 hours of visibility and 14 days of retention, 4 days by default, and queue names of at most
  80 characters (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
  quotas-queues.html).
- A message's expiry counts from its first enqueue, also in the DLQ, so the DLQ keeps messages
  longer than its queue (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
  SQSDeveloperGuide/sqs-dead-letter-queues.html).
- Event source mappings: batches up to 10,000 (10 on FIFO queues), above 10 only with a batching
  window, windows up to 300 s and none on FIFO queues
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html); maximum
  concurrency 2-1,000 (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html),
  so a limit of 1 becomes reserved concurrency. The function's role needs
  ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and ``sqs:GetQueueAttributes`` on the queue
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions).
- IAM: batch SQS calls are authorized as their single forms (``SendMessageBatch`` needs
  ``sqs:SendMessage``; https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
  SQSDeveloperGuide/sqs-api-permissions-reference.html); a GetObject of a missing key answers
  404 only to a caller with ``s3:ListBucket`` on the bucket, else 403
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html); role names are at most
  64 characters (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
- S3 bucket names are global, 3-63 characters
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
- A task's ``rate_limit``: an SQS trigger has no rate, so the queue's concurrency is capped and
  the consumers pace themselves (:mod:`adapters.aws.pacing`); a rate whose pace no function
  timeout holds is refused.
- SnapStart: Python 3.12 and later, on published versions only, so the event source mapping
  invokes an alias (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html).
- EventBridge schedules: see :mod:`adapters.aws.deploy.schedules`; EventBridge Scheduler: see
  :mod:`adapters.aws.scheduler`.

checkov checks that do not fit a task queue are skipped in the generated files with the reason
(``SKIPS``); everything else it asks for is set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.aws.config import ACCOUNT_ENV
from adapters.aws.deploy.names import camel
from adapters.aws.deploy.records import (
    Account,
    Arn,
    AwsPlan,
    Condition,
    DynamoTable,
    EnvValue,
    EventSourceMapping,
    IamRole,
    LambdaFunction,
    LogGroup,
    LogGroupArn,
    ManagedPolicy,
    ObjectsArn,
    Record,
    Redrive,
    Ref,
    S3Bucket,
    ScheduleGroup,
    ScheduleRule,
    SchedulesArn,
    ScheduleSender,
    SqsDeadLetterQueue,
    SqsQueue,
    SqsQueuePolicy,
    Stage,
    Statement,
)
from adapters.aws.deploy.schedules import Untranslatable, cron_expression, rate_expression
from adapters.aws.pacing import CONCURRENCY_ENV, pace_seconds
from adapters.aws.package import PACKAGER, SNAPSTART_RUNTIMES
from adapters.aws.results import TTL_ATTRIBUTE
from adapters.aws.scheduler import GROUP_ENV, ROLE_ENV
from dispatcher import naming
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.model import (
    DeadLetterQueue,
    Delays,
    Deployment,
    Grant,
    Identity,
    PayloadStore,
    ProducerAccess,
    Queue,
    Resource,
    ResultStore,
    Schedule,
    TaskIntent,
    Trigger,
    Worker,
)
from dispatcher.deploy.package import PackagingError
from dispatcher.deploy.policy import DeploySettings, FunctionLimits, Skip

DAY = 86_400
LIMITS = FunctionLimits(
    kind="AWS Lambda function", min_memory_mb=128, max_memory_mb=10_240, max_timeout_seconds=900
)
MAX_FUNCTION_TIMEOUT = LIMITS.max_timeout_seconds
#: Seconds a function keeps beyond its records' time to record results and settle the batch.
RESERVE_SECONDS = 10
VISIBILITY_FACTOR = 6
MAX_VISIBILITY_SECONDS = 43_200
DEFAULT_RETENTION_SECONDS = 4 * DAY
DEAD_LETTER_RETENTION_SECONDS = 14 * DAY
#: Extra time kept on top of the longest retry schedule before a message may expire.
RETENTION_MARGIN_SECONDS = 3600
#: Receives beyond a task's attempts before SQS itself dead-letters a message: the handler
#: dead-letters at once, this is the backstop for crashes and busy claims.
REDRIVE_MARGIN = 5
DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 10_000
MAX_FIFO_BATCH_SIZE = 10
MAX_UNWINDOWED_BATCH_SIZE = 10
MAX_BATCHING_WINDOW_SECONDS = 300
MIN_MAPPING_CONCURRENCY = 2
MAX_MAPPING_CONCURRENCY = 1000
LOG_RETENTION_DAYS = 30
PARTIAL_FAILURES = "ReportBatchItemFailures"
HANDLER = "adapters.aws.entrypoint.handler"
BACKEND_SPEC = "aws"
SNAPSTART_ALIAS = "live"
#: The longest name of each kind of resource AWS accepts.
MAX_NAME_LENGTH = {
    "SQS queue": 80,
    "Lambda function": 64,
    "IAM role": 64,
    "IAM policy": 128,
    "DynamoDB table": 255,
    "S3 bucket": 63,
    "schedule group": 64,
    "EventBridge rule": 64,
}
STAGE_DESCRIPTION = (
    "The deployment's stage (dev, prod...): every resource name and the functions' "
    "DISPATCHER_STAGE follow it"
)

#: checkov checks skipped in the generated files, by the kind of resource, with the reason.
SKIPS: dict[str, dict[str, str]] = {
    "queue": {
        "CKV_AWS_27": "encrypted with SQS-managed SSE; a customer KMS key would also have to be "
        "granted to EventBridge and every producer",
    },
    "function": {
        "CKV_AWS_116": "fed by an SQS event source mapping, whose redrive policy is the "
        "dead-letter queue; nothing invokes it asynchronously",
        "CKV_AWS_117": "talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources",
        "CKV_AWS_173": "the environment holds only the app reference, stage and resource "
        "names, no secrets",
        "CKV_AWS_272": "the package is built by `dispatcher package`; code signing is the "
        "deployer's choice",
        "CKV_AWS_115": "concurrency is limited per queue by the event source mapping's maximum "
        "concurrency where the task declares one",
        "CKV_AWS_50": "X-Ray tracing is left to the deployer; the envelope carries W3C trace "
        "context",
    },
    "log_group": {
        "CKV_AWS_158": "CloudWatch Logs encrypts log data by default; no customer KMS key",
        "CKV_AWS_338": "30 days of worker logs are kept; results live in the results table",
    },
    "bucket": {
        "CKV_AWS_18": "claim-check objects live minutes to days; access logs would outlive them",
        "CKV_AWS_21": "claim-check objects are written once and deleted; versions would keep "
        "deleted payloads",
        "CKV_AWS_144": "claim checks are transient message bodies; replication adds no safety",
        "CKV_AWS_145": "encrypted with S3-managed keys (SSE-S3)",
        "CKV2_AWS_62": "nothing reacts to claim-check objects; the message carries the pointer",
    },
    "table": {
        "CKV_AWS_119": "encrypted with the AWS-owned key; a customer KMS key is the "
        "deployer's choice",
    },
}


@dataclass(frozen=True, slots=True)
class Grants:
    """The IAM actions of one (resource type, access) pair, and what they apply to."""

    actions: tuple[str, ...]
    on: Callable[[Resource], list[Ref]]
    condition: Condition | None = None


def _itself(resource: Resource) -> list[Ref]:
    kind: dict[type[Resource], type] = {
        Queue: SqsQueue,
        DeadLetterQueue: SqsDeadLetterQueue,
        ResultStore: DynamoTable,
        PayloadStore: S3Bucket,
    }
    return [Arn(kind[type(resource)], resource.name)]


def _objects(resource: Resource) -> list[Ref]:
    return [ObjectsArn(resource.name)]


def _log_streams(resource: Resource) -> list[Ref]:
    return [LogGroupArn(resource.name)]


def _schedules(resource: Resource) -> list[Ref]:
    return [SchedulesArn(resource.name)]


def _scheduler_role(resource: Resource) -> list[Ref]:
    return [Arn(IamRole, resource.name)]


SEND = ("sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes")
#: IAM statements per (model resource type, access): exactly the calls the runtime makes
#: (``tests/aws/test_iam.py`` runs the sample under these policies and fails on any drift).
ACTIONS: dict[tuple[type[Resource], str], tuple[Grants, ...]] = {
    (Queue, "consume"): (
        Grants(
            (
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
            ),
            _itself,
        ),
    ),
    (Queue, "send"): (Grants(SEND, _itself),),
    (DeadLetterQueue, "send"): (Grants(SEND, _itself),),
    (ResultStore, "read_write"): (
        Grants(
            (
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",  # an event's results, two or more records
                "dynamodb:UpdateItem",  # a claim released when its outcome cannot be stored
            ),
            _itself,
        ),
    ),
    (ResultStore, "send"): (
        Grants(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"), _itself),
    ),
    (PayloadStore, "read_write"): (
        Grants(("s3:GetObject", "s3:PutObject", "s3:DeleteObject"), _objects),
        # A missing claim check must be a 404 (dead-lettered with its reason), not a 403.
        Grants(("s3:ListBucket",), _itself),
    ),
    (PayloadStore, "send"): (Grants(("s3:PutObject", "s3:DeleteObject"), _objects),),
    (Delays, "schedule"): (
        Grants(("scheduler:CreateSchedule",), _schedules),
        Grants(
            ("iam:PassRole",),
            _scheduler_role,
            Condition("StringEquals", "iam:PassedToService", "scheduler.amazonaws.com"),
        ),
    ),
    (Worker, "write_logs"): (Grants(("logs:CreateLogStream", "logs:PutLogEvents"), _log_streams),),
}


class QueueSettings(BaseModel):
    """Per-queue overrides a user may give (``dispatcher infra --batch-size QUEUE=N ...``);
    ``None`` means "the policy's safe value"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int | None = Field(default=None, ge=1)
    batching_window_seconds: int | None = Field(default=None, ge=0)
    visibility_timeout_seconds: int | None = Field(default=None, ge=0)
    retention_seconds: int | None = Field(default=None, ge=60)


def skips(kind: str) -> tuple[Skip, ...]:
    """The checkov skips of one kind of resource."""
    return tuple(Skip(check, reason) for check, reason in SKIPS[kind].items())


def envelope_template(task: str) -> str:
    """The EventBridge input template of a scheduled task: a version-1 envelope."""
    return json.dumps(
        {"version": 1, "id": "<id>", "task": task, "created_at": "<time>"}, separators=(", ", ": ")
    )


def bucket_name(app: str) -> naming.Name:
    """The claim-check bucket: S3 names are global, so it ends with the account and region."""
    return naming.claim_check_bucket(app, scoped=True)


def scheduler_group_name(app: str) -> naming.Name:
    """The schedule group of long delays."""
    return naming.name(app, "delays")


def scheduler_role_name(app: str) -> naming.Name:
    """The role EventBridge Scheduler assumes to send long-delayed messages."""
    return naming.name(app, "delays-role")


def producer_policy_name(app: str) -> naming.Name:
    """The managed policy producers attach."""
    return naming.name(app, "producer")


@dataclass(frozen=True, slots=True)
class QueueDecision:
    """The SQS, Lambda and event-source values of one queue, decided together."""

    visibility: int
    retention: int
    max_receive_count: int
    batch_size: int
    batching_window: int | None
    function_timeout: int
    reserved_concurrency: int | None
    max_concurrency: int | None
    pacing_concurrency: int | None


@dataclass(frozen=True, slots=True)
class FunctionOptions:
    """The deployment-wide function options: runtime, architecture, SnapStart."""

    runtime: str
    architecture: str
    snapstart: bool


class AwsPolicy:
    """Decides every AWS value of a deployment (see the module's docstring)."""

    name = "aws"
    limits = LIMITS

    def decide(self, deployment: Deployment, settings: DeploySettings) -> AwsPlan:
        """The AWS records of ``deployment``; raises :class:`UndeployableApp` with every
        problem, one line each."""
        decider = Decider(deployment, settings)
        records = decider.records()
        decider.check_names(records)
        if decider.problems:
            raise UndeployableApp(deployment.app, decider.problems)
        return AwsPlan(
            deployment=deployment,
            records=tuple(records),
            runtime=decider.options.runtime,
            architecture=decider.options.architecture,
            log_retention_days=LOG_RETENTION_DAYS,
            artifact=settings.artifact or f"build/{PACKAGER.archive_name(deployment.app)}",
            stage_pattern=naming.STAGE_PATTERN,
            stage_description=STAGE_DESCRIPTION,
        )


#: The policy the AWS plug-in names.
POLICY = AwsPolicy()


class Decider:
    """The decisions for one deployment, with the problems found on the way."""

    def __init__(self, deployment: Deployment, settings: DeploySettings) -> None:
        self.deployment = deployment
        self.problems: list[str] = []
        self.options = self._options(settings)
        self.queues: dict[str, QueueDecision] = {}
        for queue in deployment.of_type(Queue):
            overrides = self._settings(queue.name, settings.queues.get(queue.name, {}))
            self.queues[queue.name] = self._queue(queue, overrides)

    def handlers(self) -> Mapping[type[Resource], Callable[[Any], list[Record]]]:
        """The explicit table of decisions, one per model resource type."""
        return {
            DeadLetterQueue: self.dead_letter_queue,
            Queue: self.queue,
            ResultStore: self.result_store,
            PayloadStore: self.payload_store,
            Delays: self.delays,
            Identity: self.identity,
            Worker: self.worker,
            Trigger: self.trigger,
            Schedule: self.schedule,
            ProducerAccess: self.producer_access,
        }

    def records(self) -> list[Record]:
        """Every resource's records, in the model's order."""
        table = self.handlers()
        return [record for r in self.deployment.resources for record in table[type(r)](r)]

    def problem(self, tasks: list[TaskIntent], setting: str, message: str) -> None:
        names = ", ".join(t.name for t in tasks)
        self.problems.append(f"task {names}: {setting}: {message}")

    def check_names(self, records: list[Record]) -> None:
        """Every name must fit its kind's limit with the longest stage (and account and
        region) allowed."""
        kinds: dict[type, tuple[str, str]] = {
            SqsQueue: ("SQS queue", "queue_name"),
            SqsDeadLetterQueue: ("SQS queue", "queue_name"),
            LambdaFunction: ("Lambda function", "function_name"),
            IamRole: ("IAM role", "role_name"),
            ManagedPolicy: ("IAM policy", "policy_name"),
            DynamoTable: ("DynamoDB table", "table_name"),
            S3Bucket: ("S3 bucket", "bucket_name"),
            ScheduleGroup: ("schedule group", "group_name"),
            ScheduleRule: ("EventBridge rule", "rule_name"),
        }
        for record in records:
            if type(record) not in kinds:
                continue
            kind, attribute = kinds[type(record)]
            name: naming.Name = getattr(record, attribute)
            longest, limit = name.longest(), MAX_NAME_LENGTH[kind]
            if longest > limit:
                shown = name.render("-<stage>", "<account>", "<region>")
                self.problems.append(
                    f"app {self.deployment.app!r}: the {kind} name {shown!r} can reach {longest} "
                    f"characters with a {naming.MAX_STAGE_LENGTH}-character stage, above AWS's "
                    f"{limit}; shorten the app or queue name"
                )

    # --- deployment-wide options -------------------------------------------------------------

    def _options(self, settings: DeploySettings) -> FunctionOptions:
        try:
            target = PACKAGER.target(settings.runtime, settings.architecture)
        except PackagingError as error:
            self.problems.append(f"settings: {error}")
            target = PACKAGER.target()
        if settings.snapstart and target.runtime not in SNAPSTART_RUNTIMES:
            self.problems.append(
                f"settings: snapstart needs one of {', '.join(sorted(SNAPSTART_RUNTIMES))}, "
                f"not {target.runtime}"
            )
        return FunctionOptions(target.runtime, target.architecture, settings.snapstart)

    # --- one queue's values ------------------------------------------------------------------

    def _settings(self, queue: str, given: Mapping[str, int]) -> QueueSettings:
        try:
            return QueueSettings.model_validate(given)
        except ValidationError as error:
            for item in error.errors():
                key = ".".join(str(part) for part in item["loc"])
                message = (
                    f"not an AWS setting (known: {', '.join(QueueSettings.model_fields)})"
                    if item["type"] == "extra_forbidden"
                    else item["msg"]
                )
                self.problems.append(f"settings: queue {queue!r}: {key}: {message}")
            return QueueSettings()

    def _queue(self, queue: Queue, overrides: QueueSettings) -> QueueDecision:
        tasks = self.deployment.tasks_of(queue.tasks)
        reserved, maximum = self._concurrency(tasks)
        pacing = self._pacing(tasks, reserved, maximum)
        if pacing is not None and reserved is None and maximum is None:
            maximum = pacing
        record_time = self._record_time(tasks, pacing)
        batch_size, window = self._batching(queue, tasks, overrides, record_time)
        function_timeout = min(
            MAX_FUNCTION_TIMEOUT, math.ceil(batch_size * record_time) + RESERVE_SECONDS
        )
        visibility = self._visibility(queue, tasks, function_timeout, overrides)
        retention = self._retention(tasks, visibility, overrides)
        return QueueDecision(
            visibility=visibility,
            retention=retention,
            max_receive_count=max(t.attempts for t in tasks) + REDRIVE_MARGIN,
            batch_size=batch_size,
            batching_window=None if queue.ordered else window,
            function_timeout=function_timeout,
            reserved_concurrency=reserved,
            max_concurrency=maximum,
            pacing_concurrency=pacing,
        )

    def _pacing(
        self, tasks: list[TaskIntent], reserved: int | None, maximum: int | None
    ) -> int | None:
        """The concurrency rate-limited tasks pace themselves for (``None``: no rate limit)."""
        if not any(t.rate_limit is not None for t in tasks):
            return None
        return reserved or maximum or MIN_MAPPING_CONCURRENCY

    def _record_time(self, tasks: list[TaskIntent], pacing: int | None) -> float:
        """The longest one record may take: its task's timeout, or its pace."""
        longest = 0.0
        room = MAX_FUNCTION_TIMEOUT - RESERVE_SECONDS
        for task in tasks:
            need = task.timeout_seconds
            if task.rate_limit is not None and pacing is not None:
                rate = task.rate_limit
                pace = pace_seconds(rate.count, rate.per_seconds, pacing)
                if pace > room:
                    self.problem(
                        [task],
                        "rate_limit",
                        f"{rate.count} per {rate.per_seconds:g} s cannot be honoured on AWS "
                        f"Lambda: with up to {pacing} concurrent functions each run must take "
                        f"{pace:g} s, above the {room} s a function has",
                    )
                need = max(need, pace)
            if room < task.timeout_seconds <= MAX_FUNCTION_TIMEOUT:  # beyond: the builder's
                self.problem(
                    [task],
                    "timeout",
                    f"{task.timeout_seconds:g} s leaves no time within Lambda's "
                    f"{MAX_FUNCTION_TIMEOUT} s to record its result: at most {room} s",
                )
            longest = max(longest, need)
        return longest

    def _visibility(
        self, queue: Queue, tasks: list[TaskIntent], timeout: int, overrides: QueueSettings
    ) -> int:
        safe = min(VISIBILITY_FACTOR * timeout, MAX_VISIBILITY_SECONDS)
        given = overrides.visibility_timeout_seconds
        if given is None:
            return safe
        if given < VISIBILITY_FACTOR * timeout:
            longest = max(tasks, key=lambda t: t.timeout_seconds)
            self.problem(
                [longest],
                "visibility_timeout",
                f"{given} s on queue {queue.name!r} is below {VISIBILITY_FACTOR}x the function "
                f"timeout ({timeout} s)",
            )
        return given

    def _retention(self, tasks: list[TaskIntent], visibility: int, overrides: QueueSettings) -> int:
        def needed(task: TaskIntent) -> int:
            deliveries = task.attempts + REDRIVE_MARGIN
            return math.ceil(task.retry_seconds + deliveries * visibility)

        longest = max(tasks, key=needed)
        need = needed(longest)
        given = overrides.retention_seconds
        retention = given or max(DEFAULT_RETENTION_SECONDS, need + RETENTION_MARGIN_SECONDS)
        if retention <= need:
            self.problem(
                [longest],
                "retry",
                f"the retry schedule can keep a message for {need} s, "
                f"longer than the queue's retention of {retention} s",
            )
        if retention >= DEAD_LETTER_RETENTION_SECONDS:
            self.problem(
                [longest],
                "retention" if given else "retry",
                f"messages must expire from the queue before the dead-letter queue's "
                f"{DEAD_LETTER_RETENTION_SECONDS} s retention, but need {retention} s",
            )
        return retention

    def _batching(
        self,
        queue: Queue,
        tasks: list[TaskIntent],
        overrides: QueueSettings,
        record_time: float,
    ) -> tuple[int, int]:
        room = MAX_FUNCTION_TIMEOUT - RESERVE_SECONDS
        fitting = max(1, math.floor(room / record_time)) if record_time > 0 else MAX_BATCH_SIZE
        given = overrides.batch_size
        size = given or min(DEFAULT_BATCH_SIZE, fitting)
        window = overrides.batching_window_seconds or 0
        if given is not None and given > fitting:
            self.problem(
                tasks,
                "batch_size",
                f"{given} records of up to {record_time:g} s each do not fit in Lambda's "
                f"{MAX_FUNCTION_TIMEOUT} s on queue {queue.name!r} (at most {fitting})",
            )
        if queue.ordered:
            if size > MAX_FIFO_BATCH_SIZE:
                self.problem(
                    tasks,
                    "batch_size",
                    f"ordered queue {queue.name!r} takes at most {MAX_FIFO_BATCH_SIZE} messages "
                    f"per batch (got {size})",
                )
            if window:
                self.problem(
                    tasks,
                    "batching_window",
                    f"ordered queue {queue.name!r} cannot have a batching window (got {window} s)",
                )
            return size, window
        if size > MAX_BATCH_SIZE:
            self.problem(
                tasks,
                "batch_size",
                f"queue {queue.name!r} takes at most {MAX_BATCH_SIZE} messages per batch "
                f"(got {size})",
            )
        elif size > MAX_UNWINDOWED_BATCH_SIZE and window == 0:
            self.problem(
                tasks,
                "batching_window",
                f"queue {queue.name!r} needs a batching window of at least 1 s for batches "
                f"above {MAX_UNWINDOWED_BATCH_SIZE}",
            )
        if window > MAX_BATCHING_WINDOW_SECONDS:
            self.problem(
                tasks,
                "batching_window",
                f"{window} s is above the {MAX_BATCHING_WINDOW_SECONDS} s maximum",
            )
        return size, window

    def _concurrency(self, tasks: list[TaskIntent]) -> tuple[int | None, int | None]:
        """(reserved concurrency, event source maximum concurrency) for the tightest limit."""
        limited = [t for t in tasks if t.concurrency is not None]
        if not limited:
            return None, None
        task = min(limited, key=lambda t: t.concurrency or 0)
        value = task.concurrency or 0
        if value > MAX_MAPPING_CONCURRENCY:
            self.problem(
                [task],
                "concurrency",
                f"{value} is above the {MAX_MAPPING_CONCURRENCY} a queue trigger allows",
            )
            return None, None
        if value < MIN_MAPPING_CONCURRENCY:
            return value, None
        return None, value

    # --- the records of each model resource --------------------------------------------------

    def dead_letter_queue(self, dlq: DeadLetterQueue) -> list[Record]:
        """An SQS queue keeping dead letters as long as SQS allows."""
        return [
            SqsDeadLetterQueue(
                name=dlq.name,
                queue_name=dlq.physical_name,
                fifo=dlq.ordered,
                content_based_deduplication=dlq.ordered,
                retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
                managed_encryption=True,
                skips=skips("queue"),
            )
        ]

    def queue(self, queue: Queue) -> list[Record]:
        """An SQS queue with its redrive, and the policy letting its schedules send."""
        decided = self.queues[queue.name]
        records: list[Record] = [
            SqsQueue(
                name=queue.name,
                queue_name=queue.physical_name,
                fifo=queue.ordered,
                content_based_deduplication=queue.ordered,
                visibility_timeout=decided.visibility,
                retention_seconds=decided.retention,
                managed_encryption=True,
                redrive=Redrive(queue.dead_letter, decided.max_receive_count),
                url_output=f"URL of the SQS queue of task queue {queue.queue}",
                skips=skips("queue"),
            )
        ]
        schedules = [s for s in self.deployment.of_type(Schedule) if s.queue == queue.name]
        if schedules:
            records.append(
                SqsQueuePolicy(
                    name=queue.name,
                    queue=queue.name,
                    principal="events.amazonaws.com",
                    action="sqs:SendMessage",
                    senders=tuple(
                        ScheduleSender(f"Schedule{camel(s.name)}", s.name) for s in schedules
                    ),
                )
            )
        return records

    def result_store(self, store: ResultStore) -> list[Record]:
        """An on-demand DynamoDB table keyed as the results code reads it, with TTL."""
        return [
            DynamoTable(
                name=store.name,
                table_name=store.physical_name,
                key="id",
                key_type="S",
                billing_mode="PAY_PER_REQUEST",
                ttl_attribute=TTL_ATTRIBUTE,
                point_in_time_recovery=True,
                encrypted=True,
                skips=skips("table"),
            )
        ]

    def payload_store(self, store: PayloadStore) -> list[Record]:
        """A private, encrypted bucket, named for its account and region (S3 names are
        global), whose objects outlive the dead letters that point to them (a dead letter may
        be replayed until the DLQ drops it)."""
        return [
            S3Bucket(
                name=store.name,
                bucket_name=bucket_name(self.deployment.app),
                lifecycle_rule="expire-claim-checks",
                expire_after_days=math.ceil(DEAD_LETTER_RETENTION_SECONDS / DAY) + 1,
                abort_multipart_after_days=1,
                block_public_access=True,
                encryption_algorithm="AES256",
                object_ownership="BucketOwnerEnforced",
                skips=skips("bucket"),
            )
        ]

    def delays(self, delays: Delays) -> list[Record]:
        """The schedule group of long delays, and the role the scheduler sends with: to every
        queue that takes delays (not ordered ones: a FIFO queue has no per-message delay) and
        to their dead-letter queues (where an undeliverable schedule goes)."""
        app = self.deployment.app
        queues = [q for q in self.deployment.of_type(Queue) if q.name in delays.queues]
        targets: list[Ref] = []
        for queue in queues:
            if not queue.ordered:
                targets += [Arn(SqsQueue, queue.name), Arn(SqsDeadLetterQueue, queue.dead_letter)]
        return [
            ScheduleGroup(
                name=delays.name,
                group_name=scheduler_group_name(app),
                name_output=f"Schedule group of long delays ({GROUP_ENV})",
            ),
            IamRole(
                name=delays.name,
                role_name=scheduler_role_name(app),
                service="scheduler.amazonaws.com",
                same_account=True,
                policy_name="dispatcher-delays",
                statements=(Statement(("sqs:SendMessage",), tuple(targets)),),
                arn_output=f"Role EventBridge Scheduler sends long delays with ({ROLE_ENV})",
            ),
        ]

    def _statements(self, grants: tuple[Grant, ...]) -> tuple[Statement, ...]:
        """One statement per distinct set of actions (and condition), in grant order."""
        grouped: dict[tuple[tuple[str, ...], Condition | None], list[Ref]] = {}
        for grant in grants:
            resource = self.deployment.get(grant.resource)
            found = ACTIONS.get((type(resource), grant.access))
            if found is None:
                raise ValueError(f"no IAM actions for {grant.access} on {type(resource).__name__}")
            for entry in found:
                targets = grouped.setdefault((entry.actions, entry.condition), [])
                targets += [t for t in entry.on(resource) if t not in targets]
        return tuple(Statement(a, tuple(r), c) for (a, c), r in grouped.items())

    def identity(self, identity: Identity) -> list[Record]:
        """A role Lambda assumes: one statement per distinct set of actions."""
        worker = self.deployment.get(identity.worker)
        assert isinstance(worker, Worker)
        return [
            IamRole(
                name=identity.name,
                role_name=worker.physical_name.extended("role"),
                service="lambda.amazonaws.com",
                same_account=False,
                policy_name="dispatcher-worker",
                statements=self._statements(identity.grants),
                arn_output=None,
            )
        ]

    def producer_access(self, access: ProducerAccess) -> list[Record]:
        """The managed policy producers attach (a role, a user, a group)."""
        return [
            ManagedPolicy(
                name=access.name,
                policy_name=producer_policy_name(self.deployment.app),
                description=f"Send the tasks of {self.deployment.app} (queues, dedup keys, "
                "claim checks, long delays)",
                statements=self._statements(access.grants),
                arn_output="Managed policy for producers: attach it to whatever sends tasks",
            )
        ]

    def environment(self, worker: Worker) -> dict[str, EnvValue]:
        """What the runtime reads: the app, the backend, the stage and account (the names),
        the scheduler of long delays, and the concurrency rate limits pace for."""
        environment: dict[str, EnvValue] = {
            naming.APP_ENV: self.deployment.app_reference,
            "DISPATCHER_BACKEND": BACKEND_SPEC,
            naming.STAGE_ENV: Stage(),
            ACCOUNT_ENV: Account(),
        }
        delays = self.deployment.of_type(Delays)
        if delays:
            environment[GROUP_ENV] = scheduler_group_name(self.deployment.app)
            environment[ROLE_ENV] = Arn(IamRole, delays[0].name)
        pacing = self.queues[worker.queue].pacing_concurrency
        if pacing is not None:
            environment[CONCURRENCY_ENV] = str(pacing)
        return environment

    def worker(self, worker: Worker) -> list[Record]:
        """The function's log group, and the function."""
        decided = self.queues[worker.queue]
        return [
            LogGroup(
                name=worker.name,
                prefix="/aws/lambda/",
                function_name=worker.physical_name,
                retention_days=LOG_RETENTION_DAYS,
                skips=skips("log_group"),
            ),
            LambdaFunction(
                name=worker.name,
                function_name=worker.physical_name,
                description=f"Runs the tasks of queue {worker.queue}: {', '.join(worker.tasks)}",
                runtime=self.options.runtime,
                architecture=self.options.architecture,
                handler=HANDLER,
                memory_mb=worker.memory_mb,
                timeout=decided.function_timeout,
                role=worker.identity,
                log_group=worker.name,
                environment=self.environment(worker),
                reserved_concurrency=decided.reserved_concurrency,
                snapstart=self.options.snapstart,
                skips=skips("function"),
            ),
        ]

    def trigger(self, trigger: Trigger) -> list[Record]:
        """The SQS event source mapping."""
        decided = self.queues[trigger.queue]
        return [
            EventSourceMapping(
                name=trigger.name,
                queue=trigger.queue,
                function=trigger.worker,
                alias=SNAPSTART_ALIAS if self.options.snapstart else None,
                batch_size=decided.batch_size,
                batching_window=decided.batching_window,
                response_types=(PARTIAL_FAILURES,),
                max_concurrency=decided.max_concurrency,
                enabled=True,
            )
        ]

    def schedule(self, schedule: Schedule) -> list[Record]:
        """An EventBridge rule sending a fresh envelope to the task's queue."""
        queue = self.deployment.get(schedule.queue)
        assert isinstance(queue, Queue)
        try:
            if schedule.schedule == "rate":
                expression = rate_expression(schedule.every_seconds or 60)
            else:
                expression = cron_expression(schedule.expression)
        except Untranslatable as error:
            self.problem([self.deployment.task(schedule.task)], "schedule", str(error))
            expression = ""
        return [
            ScheduleRule(
                name=schedule.name,
                rule_name=naming.name(self.deployment.app, schedule.name),
                description=f"Runs {schedule.task} on {schedule.expression!r} (UTC)",
                expression=expression,
                queue=schedule.queue,
                target_id="queue",
                input_paths={"id": "$.id", "time": "$.time"},
                input_template=envelope_template(schedule.task),
                message_group_id=schedule.task if queue.ordered else None,
            )
        ]
