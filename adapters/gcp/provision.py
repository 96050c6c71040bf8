"""Create the app's Cloud Tasks queues and its bucket in any endpoint (the emulators, or a
project where the infrastructure is not managed elsewhere), with each queue's settings taken
from its tasks:

* ``rate_limit`` -> ``rate_limits.max_dispatches_per_second`` (the lowest of the queue's
  tasks; Cloud Tasks allows at most 500 per second per queue),
* ``concurrency`` -> ``rate_limits.max_concurrent_dispatches`` (the lowest; an ordered queue
  dispatches one task at a time, which keeps order only as long as nothing is retried:
  Cloud Tasks promises no order, https://cloud.google.com/tasks/docs/common-pitfalls),
* ``retry`` -> ``retry_config``: the task's own schedule when all of the queue's tasks share
  one Cloud Tasks can follow (doubling, no jitter), so the receiver lets Cloud Tasks retry;
  otherwise the receiver re-creates retries itself. ``max_attempts`` is the largest attempt
  count plus five, a backstop for pushes the receiver cannot answer at all (after it Cloud
  Tasks deletes the task).

Queue settings reference: https://cloud.google.com/tasks/docs/reference/rest/v2/
projects.locations.queues (RateLimits, RetryConfig).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from adapters.gcp.errors import translated

if TYPE_CHECKING:
    from adapters.gcp.producer import GcpBackend
    from dispatcher.app import Dispatcher

#: Cloud Tasks' highest dispatch rate per queue.
MAX_DISPATCHES_PER_SECOND = 500.0
#: Attempts Cloud Tasks makes beyond the task's own, for pushes that get no answer.
EXTRA_ATTEMPTS = 5


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` created: queue paths by task queue, and the bucket."""

    queues: dict[str, str]
    bucket: str


def queue_settings(app: Dispatcher, queue: str, path: str) -> Any:
    """The ``tasks_v2.Queue`` for task queue ``queue`` (named ``path``)."""
    from google.cloud import tasks_v2

    tasks = [t for t in app.tasks.values() if t.options.queue == queue]
    rates = [t.options.rate_limit for t in tasks if t.options.rate_limit is not None]
    limits = [t.options.concurrency for t in tasks if t.options.concurrency is not None]
    if any(t.options.ordered for t in tasks):
        limits.append(1)
    rate_limits = tasks_v2.RateLimits(
        max_dispatches_per_second=min(
            [MAX_DISPATCHES_PER_SECOND, *(r.count / r.per for r in rates)]
        )
    )
    if limits:
        rate_limits.max_concurrent_dispatches = min(limits)
    policies = {t.options.retry for t in tasks}
    attempts = max((t.options.retry.attempts for t in tasks), default=1)
    retry = tasks_v2.RetryConfig(max_attempts=attempts + EXTRA_ATTEMPTS)
    if len(policies) == 1:
        policy = next(iter(policies))
        if policy.backoff == 2.0 and not policy.jitter and policy.delay > 0:
            retry.min_backoff = timedelta(seconds=policy.delay)
            retry.max_backoff = timedelta(seconds=max(policy.delay, policy.max_delay))
            retry.max_doublings = 16
    return tasks_v2.Queue(name=path, rate_limits=rate_limits, retry_config=retry)


def provision(backend: GcpBackend) -> Provisioned:
    """Create (or update) every queue of the app and the bucket."""
    from google.api_core.exceptions import AlreadyExists, Conflict

    config, tasks = backend.config, backend.clients.tasks
    made: dict[str, str] = {}
    for queue in backend.app.queues:
        path = config.queue_path(queue)
        settings = queue_settings(backend.app, queue, path)
        with translated(f"creating Cloud Tasks queue {path}"):
            try:
                tasks.create_queue(parent=config.parent, queue=settings)
            except AlreadyExists:
                tasks.update_queue(queue=settings)
        made[queue] = path
    with translated(f"creating bucket gs://{config.bucket}"), contextlib.suppress(Conflict):
        backend.clients.storage.create_bucket(config.bucket)
    return Provisioned(made, config.bucket)
