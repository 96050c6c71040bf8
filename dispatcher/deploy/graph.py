"""Build the neutral resource model from an app's declarations: intent only.

The model says what the app asks for (timeouts, memory, attempts, retry schedules, concurrency,
rate limits, ordering, schedules, who may touch what); a provider's deploy policy
(:mod:`dispatcher.deploy.policy`) decides how its platform provides it. The builder checks only
what every provider shares (memory and timeout against the policy's function limits, settings
naming unknown queues, clashing names) and returns its problems with the model, so that
:func:`dispatcher.deploy.policy.plan` can report them together with the policy's, one line each.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

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
    Rate,
    Resource,
    ResultStore,
    Schedule,
    TaskIntent,
    Trigger,
    Worker,
)
from dispatcher.deploy.policy import DeploySettings, FunctionLimits

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher, QueueSpec
    from dispatcher.task import Task

RESULTS = "results"
PAYLOADS = "claim-checks"
DELAYS = "delays"
PRODUCERS = "producers"


def build(
    app: Dispatcher,
    limits: FunctionLimits,
    provider: str,
    reference: str,
    settings: DeploySettings | None = None,
) -> Deployment:
    """The neutral model of ``app`` for ``provider``, whose functions have ``limits``;
    ``reference`` is how functions import the app (``module:attr``). Raises
    :class:`UndeployableApp` listing every problem the builder finds."""
    deployment, problems = collect(app, limits, provider, reference, settings or DeploySettings())
    if problems:
        raise UndeployableApp(app.name, problems)
    return deployment


def collect(
    app: Dispatcher,
    limits: FunctionLimits,
    provider: str,
    reference: str,
    settings: DeploySettings,
) -> tuple[Deployment, list[str]]:
    """The model and the builder's problems (one line each), even when there are some."""
    problems: list[str] = [
        f"settings: queue {queue!r} is not used by any task"
        for queue in settings.queues
        if queue not in app.queues
    ]
    if not app.tasks:
        problems.append(f"app {app.name!r} declares no tasks")
    builder = _Builder(app, limits, problems)
    for spec in app.queues.values():
        builder.add_queue(spec)
    builder.add_stores()
    resources = ordered(builder.resources)
    seen: set[str] = set()
    for resource in resources:
        if resource.name in seen:
            problems.append(f"two resources would be named {resource.name!r}; rename a queue")
        seen.add(resource.name)
    deployment = Deployment(
        app=app.name,
        app_reference=reference,
        provider=provider,
        tasks=tuple(intent(task) for task in app.tasks.values()),
        resources=tuple(resources),
    )
    return deployment, problems


def intent(task: Task[Any, Any]) -> TaskIntent:
    """What one task's declaration asks of the platform."""
    options = task.options
    rate = options.rate_limit
    return TaskIntent(
        name=task.name,
        queue=options.queue,
        timeout_seconds=options.timeout,
        memory_mb=options.memory,
        attempts=options.retry.attempts,
        retry_seconds=options.retry.max_total_delay(),
        retry_delay=options.retry.delay,
        retry_backoff=options.retry.backoff,
        retry_max_delay=options.retry.max_delay,
        retry_jitter=options.retry.jitter,
        concurrency=options.concurrency,
        rate_limit=Rate(count=rate.count, per_seconds=rate.per) if rate else None,
    )


def ordered(resources: Iterable[Resource]) -> list[Resource]:
    """Resources with each one's dependencies before it (depth first, otherwise stable)."""
    by_name = {r.name: r for r in resources}
    done: dict[str, Resource] = {}
    visiting: set[str] = set()

    def visit(resource: Resource) -> None:
        if resource.name in done:
            return
        if resource.name in visiting:
            raise ValueError(f"dependency cycle through {resource.name!r}")
        visiting.add(resource.name)
        for name in resource.dependencies():
            if name in by_name:
                visit(by_name[name])
        visiting.discard(resource.name)
        done[resource.name] = resource

    for resource in by_name.values():
        visit(resource)
    return list(done.values())


def _a(kind: str) -> str:
    """``an AWS Lambda function``, ``a Cloud Run service``."""
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


class _Builder:
    """Accumulates resources and problems for one app."""

    def __init__(self, app: Dispatcher, limits: FunctionLimits, problems: list[str]):
        self.app, self.limits, self.problems = app, limits, problems
        self.resources: list[Resource] = []

    def problem(self, task: Task[Any, Any], setting: str, message: str) -> None:
        self.problems.append(f"task {task.name}: {setting}: {message}")

    def add_queue(self, spec: QueueSpec) -> None:
        tasks = [self.app.tasks[name] for name in spec.tasks]
        app = self.app.name
        dlq = DeadLetterQueue(
            name=f"{spec.name}-dlq",
            physical_name=naming.dead_letter_queue(app, spec.name, spec.ordered),
            ordered=spec.ordered,
        )
        queue = Queue(
            name=spec.name,
            physical_name=naming.queue(app, spec.name, spec.ordered),
            queue=spec.name,
            ordered=spec.ordered,
            tasks=spec.tasks,
            dead_letter=dlq.name,
        )
        worker_name, identity_name = f"{spec.name}-worker", f"{spec.name}-identity"
        grants = [
            Grant(resource=queue.name, access="consume"),
            *(Grant(resource=q, access="send") for q in self.app.queues),
            Grant(resource=dlq.name, access="send"),
            Grant(resource=RESULTS, access="read_write"),
            Grant(resource=PAYLOADS, access="read_write"),
            Grant(resource=DELAYS, access="schedule"),
            Grant(resource=worker_name, access="write_logs"),
        ]
        identity = Identity(name=identity_name, worker=worker_name, grants=tuple(grants))
        worker = Worker(
            name=worker_name,
            physical_name=naming.function(app, spec.name),
            queue=queue.name,
            tasks=spec.tasks,
            memory_mb=self._memory(tasks),
            timeout_seconds=self._timeout(tasks),
            identity=identity.name,
        )
        trigger = Trigger(name=f"{spec.name}-trigger", worker=worker.name, queue=queue.name)
        self.resources += [dlq, queue, identity, worker, trigger]
        for task in tasks:
            self._schedule(task, queue)

    def add_stores(self) -> None:
        """The results store, the claim-check store, long delays, and what producers may do."""
        app = self.app.name
        queues = tuple(self.app.queues)
        self.resources += [
            ResultStore(name=RESULTS, physical_name=naming.results_table(app)),
            PayloadStore(name=PAYLOADS, physical_name=naming.claim_check_bucket(app)),
            Delays(name=DELAYS, queues=queues),
            ProducerAccess(
                name=PRODUCERS,
                grants=(
                    *(Grant(resource=q, access="send") for q in queues),
                    Grant(resource=RESULTS, access="send"),
                    Grant(resource=PAYLOADS, access="send"),
                    Grant(resource=DELAYS, access="schedule"),
                ),
            ),
        ]

    def _memory(self, tasks: list[Task[Any, Any]]) -> int:
        low, high, kind = self.limits.min_memory_mb, self.limits.max_memory_mb, _a(self.limits.kind)
        for task in tasks:
            memory = task.options.memory
            if memory > high:
                self.problem(
                    task, "memory", f"{memory} MB is above the {high} MB maximum of {kind}"
                )
            elif memory < low:
                self.problem(task, "memory", f"{memory} MB is below the {low} MB minimum of {kind}")
        return max(t.options.memory for t in tasks)

    def _timeout(self, tasks: list[Task[Any, Any]]) -> int:
        high = self.limits.max_timeout_seconds
        for task in tasks:
            if task.options.timeout > high:
                self.problem(
                    task,
                    "timeout",
                    f"{task.options.timeout:g} s is above the {high} s maximum of "
                    f"{_a(self.limits.kind)}",
                )
        return math.ceil(max(t.options.timeout for t in tasks))

    def _schedule(self, task: Task[Any, Any], queue: Queue) -> None:
        schedule = task.options.schedule
        if schedule is None:
            return
        slug = re.sub(r"[^a-z0-9]+", "-", task.name.rsplit(".", 1)[-1].lower()).strip("-")
        self.resources.append(
            Schedule(
                name=f"{slug[:50] or 'task'}-schedule",
                task=task.name,
                queue=queue.name,
                schedule="rate" if schedule.kind == "rate" else "cron",
                expression=schedule.expression,
                every_seconds=schedule.every_seconds,
            )
        )
