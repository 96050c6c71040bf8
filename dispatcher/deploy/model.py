"""The neutral resource model: what an app needs in any cloud, before any provider's vocabulary.

The builder (:mod:`dispatcher.deploy.graph`) derives one :class:`Deployment` from an app's task
declarations. It records intent only: each task's timeout, memory, attempts, retry schedule,
concurrency and rate limit; which queues are ordered; what runs on a schedule; who may touch
what. Everything a provider decides from that intent (an SQS visibility timeout, a batching
window, a Cloud Tasks retry config, a ``host.json``) is the provider's deploy policy's job
(:mod:`dispatcher.deploy.policy`). Units are seconds and megabytes. ``name`` identifies a
resource inside the model; ``physical_name`` is the name the cloud resource gets, as a
:class:`~dispatcher.naming.Name` whose stage is filled in when it is deployed (from
:mod:`dispatcher.naming`, which every provider follows).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from dispatcher.naming import Name

RESOURCE_NAME = r"^[a-z][a-z0-9-]{0,62}$"


class Rate(BaseModel):
    """At most ``count`` runs every ``per_seconds``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(ge=1)
    per_seconds: float = Field(gt=0)


class TaskIntent(BaseModel):
    """What one task asks of the platform, as declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    queue: str
    timeout_seconds: float = Field(gt=0)
    memory_mb: int
    attempts: int = Field(ge=1)
    retry_seconds: float = Field(ge=0, description="the longest its retry schedule waits in all")
    retry_delay: float = Field(default=1.0, ge=0, description="the wait after the first failure")
    retry_backoff: float = Field(default=2.0, ge=1, description="each wait over the one before")
    retry_max_delay: float = Field(default=600.0, ge=0, description="the longest single wait")
    retry_jitter: bool = Field(default=True, description="waits drawn from half to all of it")
    concurrency: int | None = None
    rate_limit: Rate | None = None


class Resource(BaseModel):
    """Base of every node: a model-unique name and the names of the nodes it needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=RESOURCE_NAME)

    def dependencies(self) -> tuple[str, ...]:
        """Names of the resources that must exist before this one."""
        return ()


class DeadLetterQueue(Resource):
    """Where a queue's messages go once their attempts are spent, kept for replay."""

    kind: Literal["dead_letter_queue"] = "dead_letter_queue"
    physical_name: Name
    ordered: bool


class Queue(Resource):
    """A task queue, which hands what its worker cannot finish to its dead-letter queue."""

    kind: Literal["queue"] = "queue"
    physical_name: Name
    queue: str
    ordered: bool
    tasks: tuple[str, ...]
    dead_letter: str

    def dependencies(self) -> tuple[str, ...]:
        return (self.dead_letter,)


class ResultStore(Resource):
    """Where results and idempotency records live, expiring on their own."""

    kind: Literal["result_store"] = "result_store"
    physical_name: Name


class PayloadStore(Resource):
    """Where message bodies too large for a queue wait (claim checks), as long as their
    messages may still be replayed."""

    kind: Literal["payload_store"] = "payload_store"
    physical_name: Name


class Worker(Resource):
    """The cloud function that runs one queue's tasks: as much memory as the hungriest task
    and as long as the slowest one may take."""

    kind: Literal["worker"] = "worker"
    physical_name: Name
    queue: str
    tasks: tuple[str, ...]
    memory_mb: int
    timeout_seconds: int
    identity: str

    def dependencies(self) -> tuple[str, ...]:
        return (self.identity,)


class Trigger(Resource):
    """Feeds a queue's messages to its worker."""

    kind: Literal["trigger"] = "trigger"
    worker: str
    queue: str

    def dependencies(self) -> tuple[str, ...]:
        return (self.queue, self.worker)


class Schedule(Resource):
    """Puts a fresh invocation of a task (no arguments) on its queue periodically.

    ``schedule`` is ``rate`` (every ``every_seconds``) or ``cron`` (five fields, UTC)."""

    kind: Literal["schedule"] = "schedule"
    task: str
    queue: str
    schedule: Literal["rate", "cron"]
    expression: str
    every_seconds: int | None = None

    def dependencies(self) -> tuple[str, ...]:
        return (self.queue,)


class Delays(Resource):
    """Messages may wait longer than a queue can hold them (long countdowns): the platform's
    scheduler, where it has one, puts them on their ``queues`` when they are due."""

    kind: Literal["delays"] = "delays"
    queues: tuple[str, ...]

    def dependencies(self) -> tuple[str, ...]:
        return self.queues


Access = Literal["consume", "send", "read_write", "write_logs", "schedule"]


class Grant(BaseModel):
    """One permission of an identity: an access level on one resource of the model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: str
    access: Access


class Identity(Resource):
    """The least-privilege identity a worker runs as."""

    kind: Literal["identity"] = "identity"
    worker: str
    grants: tuple[Grant, ...]

    def dependencies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.resource for g in self.grants if g.resource != self.worker))


class ProducerAccess(Resource):
    """What code outside the workers that sends tasks (a web app, a script) may do: send to
    the app's queues, hold dedup keys and read results, store claim checks, schedule long
    delays. Deployed as something producers attach to themselves (an IAM managed policy)."""

    kind: Literal["producer_access"] = "producer_access"
    grants: tuple[Grant, ...]

    def dependencies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.resource for g in self.grants))


AnyResource = Annotated[
    DeadLetterQueue
    | Queue
    | ResultStore
    | PayloadStore
    | Delays
    | Worker
    | Trigger
    | Schedule
    | Identity
    | ProducerAccess,
    Field(discriminator="kind"),
]

#: Every resource type, for policies to prove they decide them all.
RESOURCE_TYPES: tuple[type[Resource], ...] = (
    DeadLetterQueue,
    Queue,
    ResultStore,
    PayloadStore,
    Delays,
    Worker,
    Trigger,
    Schedule,
    Identity,
    ProducerAccess,
)


R = TypeVar("R", bound=Resource)


class Deployment(BaseModel):
    """The whole model of one app: its tasks' intent and its resources, dependencies first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app: str
    app_reference: str
    provider: str
    tasks: tuple[TaskIntent, ...]
    resources: tuple[AnyResource, ...]

    def get(self, name: str) -> Resource:
        """The resource called ``name``."""
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)

    def of_type(self, kind: type[R]) -> list[R]:
        """Every resource of one type, in model order."""
        return [r for r in self.resources if isinstance(r, kind)]

    def task(self, name: str) -> TaskIntent:
        """The intent of the task called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def tasks_of(self, names: tuple[str, ...]) -> list[TaskIntent]:
        """The intents of ``names`` (a queue's or a worker's tasks), in that order."""
        return [self.task(name) for name in names]
