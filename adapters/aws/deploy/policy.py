"""The AWS deploy policy: every AWS value decided once, from the neutral model.

Queues become SQS queues with a redrive to their DLQ, workers Lambda functions fed by SQS event
source mappings (``ReportBatchItemFailures``), results live in DynamoDB (TTL), large bodies in S3
(lifecycle expiry), schedules are EventBridge rules that put a fresh envelope on the task's
queue (the event's id and time become the envelope's ``id`` and ``created_at``), and each worker
has its own IAM role limited to the app's queues, its table, its bucket and its log group. The
decisions are plain records (:mod:`adapters.aws.deploy.records`); the format writers
(CloudFormation, SAM, serverless.yml, Terraform) and ``dispatcher emulate aws``
(:mod:`adapters.aws.provision`) only carry them out.

The platform rules it enforces, with their sources (moto enforces none of them):

- Lambda: 128-10,240 MB, at most 900 s
  (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
- A queue feeding Lambda needs a visibility timeout of at least six times the function timeout
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html); SQS allows at most
  12 hours of visibility and 14 days of retention, 4 days by default
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html).
- A message's expiry counts from its first enqueue, also in the DLQ, so the DLQ keeps messages
  longer than its queue (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
  SQSDeveloperGuide/sqs-dead-letter-queues.html).
- Event source mappings: batches up to 10,000 (10 on FIFO queues), above 10 only with a batching
  window, windows up to 300 s and none on FIFO queues
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html); maximum
  concurrency 2-1,000 (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html),
  so a limit of 1 becomes reserved concurrency.
- EventBridge schedules: see :mod:`adapters.aws.deploy.schedules`.

Not yet honoured: a task's ``rate_limit`` (issue 9, item 13) is carried in the model but no AWS
value is decided from it.

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

from adapters.aws.deploy.names import camel
from adapters.aws.deploy.records import (
    Arn,
    AwsPlan,
    DynamoTable,
    EventSourceMapping,
    IamRole,
    LambdaFunction,
    LogGroup,
    LogGroupArn,
    ObjectsArn,
    Record,
    Redrive,
    Ref,
    S3Bucket,
    ScheduleRule,
    ScheduleSender,
    Skip,
    SqsDeadLetterQueue,
    SqsQueue,
    SqsQueuePolicy,
    Statement,
)
from adapters.aws.deploy.schedules import Untranslatable, cron_expression, rate_expression
from adapters.aws.package import PACKAGER
from adapters.aws.results import TTL_ATTRIBUTE
from dispatcher import naming
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.model import (
    DeadLetterQueue,
    Deployment,
    Identity,
    PayloadStore,
    Queue,
    Resource,
    ResultStore,
    Schedule,
    TaskIntent,
    Trigger,
    Worker,
)
from dispatcher.deploy.policy import DeploySettings, FunctionLimits

DAY = 86_400
LIMITS = FunctionLimits(
    kind="AWS Lambda function", min_memory_mb=128, max_memory_mb=10_240, max_timeout_seconds=900
)
VISIBILITY_FACTOR = 6
MAX_VISIBILITY_SECONDS = 43_200
DEFAULT_RETENTION_SECONDS = 4 * DAY
DEAD_LETTER_RETENTION_SECONDS = 14 * DAY
#: Extra time kept on top of the longest retry schedule before a message may expire.
RETENTION_MARGIN_SECONDS = 3600
#: Receives beyond a task's attempts before SQS itself dead-letters a message: the handler
#: dead-letters at once, this is the backstop for crashes and busy claims.
REDRIVE_MARGIN = 5
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
RUNTIME = "python{}.{}".format(*PACKAGER.target.python)
ARCHITECTURE = PACKAGER.target.machine

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
        "CKV_AWS_173": "the environment holds only the app reference and backend name, no secrets",
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

#: IAM actions per (model resource type, access).
ACTIONS: dict[tuple[type[Resource], str], tuple[str, ...]] = {
    (Queue, "consume"): (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    ),
    (Queue, "send"): ("sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"),
    (DeadLetterQueue, "send"): ("sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"),
    (ResultStore, "read_write"): (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
    ),
    (PayloadStore, "read_write"): ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
    (Worker, "write_logs"): ("logs:CreateLogStream", "logs:PutLogEvents"),
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


@dataclass(frozen=True, slots=True)
class QueueDecision:
    """The SQS and event-source values of one queue, decided together."""

    visibility: int
    retention: int
    max_receive_count: int
    batch_size: int
    batching_window: int | None
    reserved_concurrency: int | None
    max_concurrency: int | None


class AwsPolicy:
    """Decides every AWS value of a deployment (see the module's docstring)."""

    name = "aws"
    limits = LIMITS

    def decide(self, deployment: Deployment, settings: DeploySettings) -> AwsPlan:
        """The AWS records of ``deployment``; raises :class:`UndeployableApp` with every
        problem, one line each."""
        decider = Decider(deployment, settings)
        records = decider.records()
        if decider.problems:
            raise UndeployableApp(deployment.app, decider.problems)
        return AwsPlan(
            deployment=deployment,
            records=tuple(records),
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            log_retention_days=LOG_RETENTION_DAYS,
            artifact=f"build/{PACKAGER.archive_name(deployment.app)}",
        )


#: The policy the AWS plug-in names.
POLICY = AwsPolicy()


class Decider:
    """The decisions for one deployment, with the problems found on the way."""

    def __init__(self, deployment: Deployment, settings: DeploySettings) -> None:
        self.deployment = deployment
        self.problems: list[str] = []
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
            Identity: self.identity,
            Worker: self.worker,
            Trigger: self.trigger,
            Schedule: self.schedule,
        }

    def records(self) -> list[Record]:
        """Every resource's records, in the model's order."""
        table = self.handlers()
        return [record for r in self.deployment.resources for record in table[type(r)](r)]

    def problem(self, tasks: list[TaskIntent], setting: str, message: str) -> None:
        names = ", ".join(t.name for t in tasks)
        self.problems.append(f"task {names}: {setting}: {message}")

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
        worker = next(w for w in self.deployment.of_type(Worker) if w.queue == queue.name)
        visibility = self._visibility(queue, tasks, worker.timeout_seconds, overrides)
        retention = self._retention(tasks, visibility, overrides)
        batch_size, window = self._batching(queue, tasks, overrides)
        reserved, maximum = self._concurrency(tasks)
        return QueueDecision(
            visibility=visibility,
            retention=retention,
            max_receive_count=max(t.attempts for t in tasks) + REDRIVE_MARGIN,
            batch_size=batch_size,
            batching_window=None if queue.ordered else window,
            reserved_concurrency=reserved,
            max_concurrency=maximum,
        )

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
        self, queue: Queue, tasks: list[TaskIntent], overrides: QueueSettings
    ) -> tuple[int, int]:
        size = overrides.batch_size or (MAX_FIFO_BATCH_SIZE if queue.ordered else 10)
        window = overrides.batching_window_seconds or 0
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
                url_output=f"URL of {queue.physical_name}",
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
        """A private, encrypted bucket whose objects outlive the dead letters that point to
        them (a dead letter may be replayed until the DLQ drops it)."""
        return [
            S3Bucket(
                name=store.name,
                bucket_name=store.physical_name,
                lifecycle_rule="expire-claim-checks",
                expire_after_days=math.ceil(DEAD_LETTER_RETENTION_SECONDS / DAY) + 1,
                abort_multipart_after_days=1,
                block_public_access=True,
                encryption_algorithm="AES256",
                object_ownership="BucketOwnerEnforced",
                skips=skips("bucket"),
            )
        ]

    def identity(self, identity: Identity) -> list[Record]:
        """A role Lambda assumes: one statement per distinct set of actions."""
        worker = self.deployment.get(identity.worker)
        assert isinstance(worker, Worker)
        grouped: dict[tuple[str, ...], list[Ref]] = {}
        for grant in identity.grants:
            resource = self.deployment.get(grant.resource)
            actions = ACTIONS.get((type(resource), grant.access))
            if actions is None:
                raise ValueError(f"no IAM actions for {grant.access} on {type(resource).__name__}")
            grouped.setdefault(actions, []).extend(_arns(resource))
        return [
            IamRole(
                name=identity.name,
                role_name=f"{worker.physical_name}-role",
                service="lambda.amazonaws.com",
                policy_name="dispatcher-worker",
                statements=tuple(Statement(a, tuple(r)) for a, r in grouped.items()),
            )
        ]

    def worker(self, worker: Worker) -> list[Record]:
        """The function's log group, and the function."""
        decided = self.queues[worker.queue]
        return [
            LogGroup(
                name=worker.name,
                log_group_name=f"/aws/lambda/{worker.physical_name}",
                retention_days=LOG_RETENTION_DAYS,
                skips=skips("log_group"),
            ),
            LambdaFunction(
                name=worker.name,
                function_name=worker.physical_name,
                description=f"Runs the tasks of queue {worker.queue}: {', '.join(worker.tasks)}",
                runtime=RUNTIME,
                handler=HANDLER,
                memory_mb=worker.memory_mb,
                timeout=worker.timeout_seconds,
                role=worker.identity,
                log_group=worker.name,
                environment={
                    naming.APP_ENV: self.deployment.app_reference,
                    "DISPATCHER_BACKEND": BACKEND_SPEC,
                },
                reserved_concurrency=decided.reserved_concurrency,
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
                rule_name=f"{self.deployment.app}-{schedule.name}",
                description=f"Runs {schedule.task} on {schedule.expression!r} (UTC)",
                expression=expression,
                queue=schedule.queue,
                target_id="queue",
                input_paths={"id": "$.id", "time": "$.time"},
                input_template=envelope_template(schedule.task),
                message_group_id=schedule.task if queue.ordered else None,
            )
        ]


def _arns(resource: Resource) -> list[Ref]:
    """What a grant on ``resource`` covers."""
    if isinstance(resource, Worker):
        return [LogGroupArn(resource.name)]
    if isinstance(resource, PayloadStore):
        return [Arn(S3Bucket, resource.name), ObjectsArn(resource.name)]
    kind: dict[type[Resource], type] = {
        Queue: SqsQueue,
        DeadLetterQueue: SqsDeadLetterQueue,
        ResultStore: DynamoTable,
    }
    return [Arn(kind[type(resource)], resource.name)]
