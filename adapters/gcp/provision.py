"""Create an app's Cloud Tasks queues and its bucket in any endpoint (the emulators, or a project
whose infrastructure is not managed elsewhere), as the GCP deploy policy decided them: each
queue's rate limits and retry schedule, the bucket and its lifecycle rules. The rules live in
:mod:`adapters.gcp.deploy.policy` only; this module carries out the same records the Terraform
writer prints. Services, accounts, grants and scheduler jobs are not created: ``dispatcher
emulate gcp`` serves the receiver itself and runs the local beat. Deployed infrastructure
comes from ``dispatcher infra --provider gcp``; this is for local runs and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from adapters.gcp.deploy.policy import POLICY
from adapters.gcp.deploy.records import (
    ActAsGrant,
    Bucket,
    BucketGrant,
    CloudRunService,
    GcpPlan,
    InvokerGrant,
    ProducerSettings,
    QueueGrant,
    SchedulerJob,
    ServiceAccount,
    TasksQueue,
)
from adapters.gcp.errors import translated
from dispatcher.deploy.policy import plan

if TYPE_CHECKING:
    from adapters.gcp.producer import GcpBackend


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` created: queue paths by task queue, and the bucket."""

    queues: dict[str, str]
    bucket: str


def decided(backend: GcpBackend, reference: str | None = None) -> GcpPlan:
    """The policy's records for the backend's app (``reference``: how services would import
    it; none are created here)."""
    app = backend.app
    return plan(app, POLICY, reference or app.name)


def provision(backend: GcpBackend, *, reference: str | None = None) -> Provisioned:
    """Create (or update) every queue of the app and the bucket, as decided; idempotent."""
    records = decided(backend, reference)
    creator = Creator(backend)
    table = creator.handlers()
    for record in records.records:
        table[type(record)](record)
    return Provisioned(creator.queues, backend.config.bucket)


class Creator:
    """Carries out the records an emulator can hold, one handler per record type."""

    def __init__(self, backend: GcpBackend) -> None:
        self.backend = backend
        self.queues: dict[str, str] = {}

    def handlers(self) -> Mapping[type, Callable[[Any], None]]:
        """The explicit table: what is created, and what only the cloud has."""
        return {
            TasksQueue: self.queue,
            Bucket: self.bucket,
            ServiceAccount: self.nothing,
            CloudRunService: self.nothing,
            InvokerGrant: self.nothing,
            QueueGrant: self.nothing,
            BucketGrant: self.nothing,
            ActAsGrant: self.nothing,
            SchedulerJob: self.nothing,
            ProducerSettings: self.nothing,
        }

    def nothing(self, record: object) -> None:
        """Accounts, grants, services and jobs: the emulators have no such thing."""

    def queue(self, record: TasksQueue) -> None:
        """CreateQueue, or UpdateQueue when it exists."""
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import tasks_v2

        config, tasks = self.backend.config, self.backend.clients.tasks
        path = config.queue_path(record.name)
        retry = record.retry
        settings = tasks_v2.Queue(
            name=path,
            rate_limits=tasks_v2.RateLimits(
                max_dispatches_per_second=record.max_dispatches_per_second,
                max_concurrent_dispatches=record.max_concurrent_dispatches,
            ),
            retry_config=tasks_v2.RetryConfig(
                max_attempts=retry.max_attempts,
                min_backoff=timedelta(seconds=retry.min_backoff),
                max_backoff=timedelta(seconds=retry.max_backoff),
                max_doublings=retry.max_doublings,
                max_retry_duration=timedelta(seconds=retry.max_retry_duration),
            ),
        )
        with translated(f"creating Cloud Tasks queue {path}"):
            try:
                tasks.create_queue(parent=config.parent, queue=settings)
            except AlreadyExists:
                tasks.update_queue(queue=settings)
        self.queues[record.name] = path

    def bucket(self, record: Bucket) -> None:
        """Create the bucket with its lifecycle rules (or set them on it, if it exists)."""
        config = self.backend.config
        rules = [
            {
                "action": {"type": "Delete"},
                "condition": {"age": r.age_days, "matchesPrefix": [r.prefix]},
            }
            for r in record.rules
        ]
        self.backend.clients.storage.create_bucket(
            config.project, config.bucket, {"lifecycle": {"rule": rules}}
        )
