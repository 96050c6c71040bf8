"""Build the neutral resource model from an app's declarations, checking it on the way.

Every check either computes a safe value (visibility timeout, retention, reserved concurrency)
or reports a problem; all problems are collected and raised together as
:class:`~dispatcher.deploy.errors.UndeployableApp`, one line each, before anything is rendered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from dispatcher import naming
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.model import (
    DeadLetterQueue,
    Deployment,
    Grant,
    Identity,
    PayloadStore,
    Queue,
    Resource,
    ResultStore,
    Schedule,
    Trigger,
    Worker,
)
from dispatcher.deploy.provider import DAY, Provider

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher, QueueSpec
    from dispatcher.task import Task

#: Extra time kept on top of the longest retry schedule before a message may expire.
RETENTION_MARGIN_SECONDS = 3600
#: Deliveries beyond a task's attempts before the queue itself dead-letters a message: the
#: worker dead-letters at once, this is the backstop for crashes (the AWS adapter uses 5 too).
REDRIVE_MARGIN = 5

RESULTS = "results"
PAYLOADS = "claim-checks"


class QueueSettings(BaseModel):
    """Per-queue deployment overrides; ``None`` means "the builder's safe value"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int | None = Field(default=None, ge=1)
    batching_window_seconds: int | None = Field(default=None, ge=0)
    visibility_timeout_seconds: int | None = Field(default=None, ge=0)
    retention_seconds: int | None = Field(default=None, ge=60)


class DeploySettings(BaseModel):
    """Deployment settings that are not task options (they belong to the infrastructure)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queues: dict[str, QueueSettings] = Field(default_factory=dict)


def build(
    app: Dispatcher,
    provider: Provider,
    reference: str,
    settings: DeploySettings | None = None,
) -> Deployment:
    """The checked model of ``app`` on ``provider``; ``reference`` is how functions import it
    (``module:attr``). Raises :class:`UndeployableApp` listing every problem."""
    settings = settings or DeploySettings()
    problems: list[str] = []
    for queue in settings.queues:
        if queue not in app.queues:
            problems.append(f"settings: queue {queue!r} is not used by any task")
    if not app.tasks:
        problems.append(f"app {app.name!r} declares no tasks")
    builder = _Builder(app, provider, reference, problems)
    for spec in app.queues.values():
        builder.add_queue(spec, settings.queues.get(spec.name, QueueSettings()))
    builder.add_stores()
    resources = ordered(builder.resources)
    seen: set[str] = set()
    for resource in resources:
        if resource.name in seen:
            problems.append(f"two resources would be named {resource.name!r}; rename a queue")
        seen.add(resource.name)
    if problems:
        raise UndeployableApp(app.name, problems)
    return Deployment(
        app=app.name, app_reference=reference, provider=provider.name, resources=tuple(resources)
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


class _Builder:
    """Accumulates resources and problems for one app."""

    def __init__(self, app: Dispatcher, provider: Provider, reference: str, problems: list[str]):
        self.app, self.provider, self.reference = app, provider, reference
        self.limits = provider.limits
        self.problems = problems
        self.resources: list[Resource] = []

    def problem(self, tasks: Iterable[Task[Any, Any]], setting: str, message: str) -> None:
        names = ", ".join(t.name for t in tasks)
        self.problems.append(f"task {names}: {setting}: {message}")

    def add_queue(self, spec: QueueSpec, overrides: QueueSettings) -> None:
        tasks = [self.app.tasks[name] for name in spec.tasks]
        memory = self._memory(tasks)
        timeout = self._timeout(tasks)
        visibility = self._visibility(tasks, timeout, overrides)
        retention = self._retention(tasks, visibility, overrides)
        batch_size, window = self._batching(spec, tasks, overrides)
        reserved, max_concurrency = self._concurrency(tasks)
        app = self.app.name
        dlq = DeadLetterQueue(
            name=f"{spec.name}-dlq",
            physical_name=naming.dead_letter_queue_name(app, spec.name, spec.ordered),
            ordered=spec.ordered,
            retention_seconds=self.limits.dead_letter_retention_seconds,
        )
        queue = Queue(
            name=spec.name,
            physical_name=naming.queue_name(app, spec.name, spec.ordered),
            queue=spec.name,
            ordered=spec.ordered,
            tasks=spec.tasks,
            visibility_timeout_seconds=visibility,
            retention_seconds=retention,
            max_receive_count=max(t.options.retry.attempts for t in tasks) + REDRIVE_MARGIN,
            dead_letter=dlq.name,
        )
        worker_name, identity_name = f"{spec.name}-worker", f"{spec.name}-identity"
        grants = [
            Grant(resource=queue.name, access="consume"),
            *(Grant(resource=q, access="send") for q in self.app.queues),
            Grant(resource=dlq.name, access="send"),
            Grant(resource=RESULTS, access="read_write"),
            Grant(resource=PAYLOADS, access="read_write"),
            Grant(resource=worker_name, access="write_logs"),
        ]
        identity = Identity(name=identity_name, worker=worker_name, grants=tuple(grants))
        worker = Worker(
            name=worker_name,
            physical_name=naming.function_name(app, spec.name),
            queue=queue.name,
            tasks=spec.tasks,
            memory_mb=memory,
            timeout_seconds=timeout,
            entrypoint=self.provider.entrypoint,
            runtime=self.provider.runtime,
            environment={
                naming.APP_ENV: self.reference,
                "DISPATCHER_BACKEND": self.provider.backend_spec,
            },
            reserved_concurrency=reserved,
            identity=identity.name,
        )
        trigger = Trigger(
            name=f"{spec.name}-trigger",
            worker=worker.name,
            queue=queue.name,
            batch_size=batch_size,
            batching_window_seconds=window,
            max_concurrency=max_concurrency,
        )
        self.resources += [dlq, queue, identity, worker, trigger]
        for task in tasks:
            self._schedule(task, queue)

    def add_stores(self) -> None:
        app = self.app.name
        self.resources.append(
            ResultStore(name=RESULTS, physical_name=naming.results_table_name(app))
        )
        # A dead-lettered message may be replayed until the DLQ drops it: its body must last.
        days = math.ceil(self.limits.dead_letter_retention_seconds / DAY) + 1
        self.resources.append(
            PayloadStore(
                name=PAYLOADS,
                physical_name=naming.claim_check_bucket_name(app),
                expire_after_days=days,
            )
        )

    # --- the checks --------------------------------------------------------------------------

    def _memory(self, tasks: list[Task[Any, Any]]) -> int:
        low, high = self.limits.min_memory_mb, self.limits.max_memory_mb
        for task in tasks:
            memory = task.options.memory
            if memory > high:
                self.problem(
                    [task],
                    "memory",
                    f"{memory} MB is above the {high} MB maximum of "
                    f"an {self.provider.function_kind}",
                )
            elif memory < low:
                self.problem(
                    [task],
                    "memory",
                    f"{memory} MB is below the {low} MB minimum "
                    f"of an {self.provider.function_kind}",
                )
        return max(t.options.memory for t in tasks)

    def _timeout(self, tasks: list[Task[Any, Any]]) -> int:
        high = self.limits.max_timeout_seconds
        for task in tasks:
            if task.options.timeout > high:
                self.problem(
                    [task],
                    "timeout",
                    f"{task.options.timeout:g} s is above the {high} s "
                    f"maximum of an {self.provider.function_kind}",
                )
        return math.ceil(max(t.options.timeout for t in tasks))

    def _visibility(
        self, tasks: list[Task[Any, Any]], timeout: int, overrides: QueueSettings
    ) -> int:
        factor = self.limits.visibility_timeout_factor
        safe = min(factor * timeout, self.limits.max_visibility_timeout_seconds)
        given = overrides.visibility_timeout_seconds
        if given is None:
            return safe
        if given < factor * timeout:
            longest = [max(tasks, key=lambda t: t.options.timeout)]
            self.problem(
                longest,
                "visibility_timeout",
                f"{given} s on queue "
                f"{tasks[0].options.queue!r} is below {factor}x the function timeout "
                f"({timeout} s)",
            )
        return given

    def _retention(
        self, tasks: list[Task[Any, Any]], visibility: int, overrides: QueueSettings
    ) -> int:
        def needed(task: Task[Any, Any]) -> int:
            retry = task.options.retry
            deliveries = retry.attempts + REDRIVE_MARGIN
            return math.ceil(retry.max_total_delay() + deliveries * visibility)

        longest = max(tasks, key=needed)
        need = needed(longest)
        dead_letter = self.limits.dead_letter_retention_seconds
        given = overrides.retention_seconds
        retention = given or max(
            self.limits.default_retention_seconds, need + RETENTION_MARGIN_SECONDS
        )
        if retention <= need:
            self.problem(
                [longest],
                "retry",
                f"the retry schedule can keep a message for {need} s, "
                f"longer than the queue's retention of {retention} s",
            )
        if retention >= dead_letter:
            setting = "retention" if given else "retry"
            self.problem(
                [longest],
                setting,
                f"messages must expire from the queue before the "
                f"dead-letter queue's {dead_letter} s retention, but need {retention} s",
            )
        return retention

    def _batching(
        self, spec: QueueSpec, tasks: list[Task[Any, Any]], overrides: QueueSettings
    ) -> tuple[int, int]:
        limits = self.limits
        default = limits.max_ordered_batch_size if spec.ordered else 10
        size = overrides.batch_size or default
        window = overrides.batching_window_seconds or 0
        if spec.ordered:
            if size > limits.max_ordered_batch_size:
                self.problem(
                    tasks,
                    "batch_size",
                    f"ordered queue {spec.name!r} takes at most "
                    f"{limits.max_ordered_batch_size} messages per batch (got {size})",
                )
            if window and not limits.ordered_batching_window:
                self.problem(
                    tasks,
                    "batching_window",
                    f"ordered queue {spec.name!r} cannot have a batching window (got {window} s)",
                )
            return size, window
        if size > limits.max_batch_size:
            self.problem(
                tasks,
                "batch_size",
                f"queue {spec.name!r} takes at most "
                f"{limits.max_batch_size} messages per batch (got {size})",
            )
        elif size > limits.max_unwindowed_batch_size and window == 0:
            self.problem(
                tasks,
                "batching_window",
                f"queue {spec.name!r} needs a batching window "
                f"of at least 1 s for batches above {limits.max_unwindowed_batch_size}",
            )
        if window > limits.max_batching_window_seconds:
            self.problem(
                tasks,
                "batching_window",
                f"{window} s is above the {limits.max_batching_window_seconds} s maximum",
            )
        return size, window

    def _concurrency(self, tasks: list[Task[Any, Any]]) -> tuple[int | None, int | None]:
        limited = [t for t in tasks if t.options.concurrency is not None]
        if not limited:
            return None, None
        task = min(limited, key=lambda t: t.options.concurrency or 0)
        value = task.options.concurrency or 0
        if value > self.limits.max_trigger_concurrency:
            self.problem(
                [task],
                "concurrency",
                f"{value} is above the "
                f"{self.limits.max_trigger_concurrency} a queue trigger allows",
            )
            return None, None
        if value < self.limits.min_trigger_concurrency:
            return value, None
        return None, value

    def _schedule(self, task: Task[Any, Any], queue: Queue) -> None:
        schedule = task.options.schedule
        if schedule is None:
            return
        if schedule.kind == "cron" and self.limits.cron_day_fields_exclusive:
            fields = schedule.expression.split()
            if fields[2] not in ("*", "?") and fields[4] not in ("*", "?"):
                self.problem(
                    [task],
                    "schedule",
                    f"{schedule.expression!r} restricts both the day "
                    f"of month and the day of week, which {self.provider.name} cannot run",
                )
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
