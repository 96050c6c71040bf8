"""The neutral resource model: what an app needs in any cloud, before any provider's vocabulary.

The builder (:mod:`dispatcher.deploy.graph`) derives one :class:`Deployment` from an app's task
declarations; each provider translates it into its own resources and renderers only translate.
Units are seconds and megabytes. ``name`` identifies a resource inside the model; ``physical_name``
is the name the cloud resource gets (from :mod:`dispatcher.naming`).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

RESOURCE_NAME = r"^[a-z][a-z0-9-]{0,62}$"


class Resource(BaseModel):
    """Base of every node: a model-unique name and the names of the nodes it needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=RESOURCE_NAME)

    def dependencies(self) -> tuple[str, ...]:
        """Names of the resources that must exist before this one."""
        return ()


class DeadLetterQueue(Resource):
    """Where a queue's messages go once their attempts are spent."""

    kind: Literal["dead_letter_queue"] = "dead_letter_queue"
    physical_name: str
    ordered: bool
    retention_seconds: int = Field(gt=0)


class Queue(Resource):
    """A task queue, with its redrive to a dead-letter queue."""

    kind: Literal["queue"] = "queue"
    physical_name: str
    queue: str
    ordered: bool
    tasks: tuple[str, ...]
    visibility_timeout_seconds: int = Field(gt=0)
    retention_seconds: int = Field(gt=0)
    max_receive_count: int = Field(ge=1)
    dead_letter: str

    def dependencies(self) -> tuple[str, ...]:
        return (self.dead_letter,)


class ResultStore(Resource):
    """The key-value table holding results and idempotency records, expiring by TTL."""

    kind: Literal["result_store"] = "result_store"
    physical_name: str
    key: str = "id"
    ttl_attribute: str = "expires_at"


class PayloadStore(Resource):
    """The object bucket for message bodies too large for a queue (claim checks)."""

    kind: Literal["payload_store"] = "payload_store"
    physical_name: str
    expire_after_days: int = Field(ge=1)


class Worker(Resource):
    """The cloud function that runs one queue's tasks."""

    kind: Literal["worker"] = "worker"
    physical_name: str
    queue: str
    tasks: tuple[str, ...]
    memory_mb: int
    timeout_seconds: int
    entrypoint: str
    runtime: str
    environment: dict[str, str]
    reserved_concurrency: int | None = None
    identity: str

    def dependencies(self) -> tuple[str, ...]:
        return (self.identity,)


class Trigger(Resource):
    """Feeds a queue's messages to its worker in batches, reporting per-message failures."""

    kind: Literal["trigger"] = "trigger"
    worker: str
    queue: str
    batch_size: int = Field(ge=1)
    batching_window_seconds: int = Field(ge=0)
    partial_failures: bool = True
    max_concurrency: int | None = None

    def dependencies(self) -> tuple[str, ...]:
        return (self.queue, self.worker)


class Schedule(Resource):
    """Puts a fresh invocation of a task (no arguments) on its queue periodically.

    ``kind`` is ``rate`` (every ``every_seconds``) or ``cron`` (five fields, UTC)."""

    kind: Literal["schedule"] = "schedule"
    task: str
    queue: str
    schedule: Literal["rate", "cron"]
    expression: str
    every_seconds: int | None = None

    def dependencies(self) -> tuple[str, ...]:
        return (self.queue,)


Access = Literal["consume", "send", "read_write", "write_logs"]


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


AnyResource = Annotated[
    DeadLetterQueue | Queue | ResultStore | PayloadStore | Worker | Trigger | Schedule | Identity,
    Field(discriminator="kind"),
]

#: Every resource type, for renderers to prove they cover them all.
RESOURCE_TYPES: tuple[type[Resource], ...] = (
    DeadLetterQueue,
    Queue,
    ResultStore,
    PayloadStore,
    Worker,
    Trigger,
    Schedule,
    Identity,
)


R = TypeVar("R", bound=Resource)


class Deployment(BaseModel):
    """The whole model of one app: its resources, dependencies first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app: str
    app_reference: str
    provider: str
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
