"""The GCP deploy policy: every Google Cloud value decided once, from the neutral model.

Queues become Cloud Tasks queues (rate limit, concurrency and retry schedule from their tasks),
workers Cloud Run services running the receiver (``adapters.gcp.entrypoint:app``), results,
claims, dedup holds, dead letters and claim checks live in one bucket whose lifecycle rules
expire each kind, schedules are Cloud Scheduler jobs pushing to the receiver, and identities
are service accounts with least privilege:

* each queue's **runner** (the service's identity) may create tasks on the app's queues (retries
  and hops are new tasks), read its own queue's settings (the receiver compares its retry
  schedule), use the bucket, and act as the invoker (a task it creates carries the invoker's
  OIDC token);
* the **invoker** (whose OIDC token Cloud Tasks and Cloud Scheduler send) may only invoke the
  app's services;
* the **enqueuer** (for producers: a web app, a script) may only create tasks on the app's
  queues, act as the invoker for them, hold dedup keys and store claim checks (objects under
  ``dedup/`` and ``payloads/``) and read results (``results/``), by IAM conditions on object
  names. Operations (``dispatcher dlq``, ``revoke``, ``purge``) need an operator's account.

Every name starts with the deployment's prefix (the app's name and the stage: the Terraform
variable ``stage``, passed to the services as ``DISPATCHER_STAGE``, which
:mod:`adapters.gcp.config` follows). The decisions are plain records
(:mod:`adapters.gcp.deploy.records`); the Terraform writer and ``dispatcher emulate gcp``
(:mod:`adapters.gcp.provision`) only carry them out.

The platform rules it enforces, with their sources (neither emulator enforces any of them):

- Cloud Tasks queues: at most 500 dispatches per second and 5,000 concurrent dispatches
  (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#RateLimits);
  retries follow ``min_backoff`` doubled ``max_doublings`` times, then linear, capped at
  ``max_backoff``, stopping when both ``max_attempts`` and ``max_retry_duration`` are spent
  (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#RetryConfig);
  queue ids hold letters, digits and hyphens, at most 100 characters (same page, ``Queue.name``).
- An HTTP task's ``dispatch_deadline`` lies in [15 s, 30 min]
  (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks#Task):
  a longer task timeout is refused here, in the words the producer refuses it with.
- Cloud Run: 128 MiB (first generation) to 32 GiB of memory; more than 4, 8, 16 and 24 GiB need
  at least 2, 4, 6 and 8 CPUs
  (https://cloud.google.com/run/docs/configuring/services/memory-limits); requests time out
  after at most 60 minutes (https://cloud.google.com/run/docs/configuring/request-timeout); at
  most 1,000 concurrent requests per instance, 80 by default
  (https://cloud.google.com/run/docs/about-concurrency). The deterministic URL
  ``https://SERVICE-PROJECT_NUMBER.REGION.run.app``, which producers and the services use
  before a service exists, needs ``SERVICE-PROJECT_NUMBER`` within one 63-character DNS label
  (https://cloud.google.com/run/docs/triggering/https-request#deterministic): service names
  are kept to 50 characters with the longest stage. A token's audience must be the service's
  URL or one of its custom audiences
  (https://cloud.google.com/run/docs/configuring/custom-audiences): each service lists its
  deterministic URL as a custom audience.
- Cloud Scheduler: unix-cron lines (:mod:`adapters.gcp.deploy.schedules`); an HTTP target's
  attempt deadline lies in [15 s, 30 min]
  (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs).
- GCS lifecycle rules delete objects by ``age`` (days since the object was written) and
  ``matchesPrefix`` (https://cloud.google.com/storage/docs/lifecycle); IAM conditions on
  ``resource.name`` need uniform bucket-level access
  (https://cloud.google.com/storage/docs/access-control/iam#conditions).
- Service account ids: 6 to 30 characters (https://cloud.google.com/iam/docs/
  service-accounts-create); the writer shortens a longer one with a hash.

checkov checks that do not fit are skipped in the generated files with the reason (``SKIPS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.gcp.config import (
    BUCKET,
    BUCKET_ENV,
    CONCURRENCY_ENV,
    SCHEDULE_PATH,
    SERVICE_ACCOUNT_ENV,
    SERVICE_URL_ENV,
    STAGE_ENV,
)
from adapters.gcp.dead_letters import PREFIX as DEAD_LETTERS_PREFIX
from adapters.gcp.deploy.records import (
    AccountEmail,
    ActAsGrant,
    Bucket,
    BucketGrant,
    BucketName,
    CloudRunService,
    GcpPlan,
    InvokerGrant,
    Joined,
    LifecycleRule,
    ProducerSettings,
    Project,
    QueueGrant,
    QueueRetry,
    Record,
    Region,
    SchedulerJob,
    ServiceAccount,
    ServiceUrlTemplate,
    Setting,
    Stage,
    TasksQueue,
    Text,
)
from adapters.gcp.deploy.schedules import Untranslatable, cron_schedule, rate_schedule
from adapters.gcp.package import PACKAGER, PORT
from adapters.gcp.payloads import PREFIX as PAYLOADS_PREFIX
from adapters.gcp.producer import (
    DEDUP_WINDOW,
    MAX_DELAY,
    deadline_for,
    deadline_problem,
)
from adapters.gcp.results import DEDUP_PREFIX, RESULTS_PREFIX
from dispatcher import naming
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.model import (
    DeadLetterQueue,
    Delays,
    Deployment,
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
MIB = 1024
LIMITS = FunctionLimits(
    kind="Cloud Run service", min_memory_mb=128, max_memory_mb=32 * MIB, max_timeout_seconds=3600
)
MAX_DISPATCHES_PER_SECOND = 500.0
MAX_CONCURRENT_DISPATCHES = 5000
#: What an unlimited queue gets (Cloud Tasks' own default).
DEFAULT_CONCURRENT_DISPATCHES = 1000
MAX_QUEUE_ID = 100
#: Cloud Tasks' attempts beyond a task's own: a backstop for pushes that get no answer at all
#: (the receiver answers every other push itself, dead-lettering when attempts are spent).
EXTRA_ATTEMPTS = 5
#: Cloud Tasks' schedule for a queue whose tasks' own schedules it cannot follow: the backstop
#: for unanswered pushes (the receiver re-creates every other retry when it is due).
BACKSTOP_RETRY = (1.0, 600.0, 16)
#: A queue's retries double at most this often (enough for any task's schedule to reach its
#: ``max_delay`` first).
MAX_DOUBLINGS = 16
#: Requests one instance runs at once: the threads the receiver runs tasks in (Starlette's
#: ``run_in_threadpool`` uses AnyIO's default limiter of 40 threads), below Cloud Run's 80.
INSTANCE_CONCURRENCY = 40
MAX_INSTANCE_CONCURRENCY = 1000
#: Cloud Run's default and our default maximum of instances per service.
MAX_INSTANCES = 100
#: Memory (MiB) above which Cloud Run wants more CPUs, and how many.
CPU_STEPS = ((24 * MIB, 8), (16 * MIB, 6), (8 * MIB, 4), (4 * MIB, 2))
#: The first generation execution environment allows less than 512 MiB; the second does not.
SECOND_GENERATION_MIN_MB = 512
#: ``SERVICE-PROJECT_NUMBER`` fits one DNS label (63) with a 12-digit project number.
MAX_SERVICE_NAME = 63 - 1 - 12
IMAGE_VARIABLE = "image"
#: Days each kind of object is kept after it was last written.
RESULT_DAYS = 7
DEAD_LETTER_DAYS = 30
LOG_SAMPLING_RATIO = 1.0
SCHEDULER_RETRIES = 3
#: A schedule's push only sends the task: it answers in well under this.
SCHEDULE_DEADLINE = 60
TIME_ZONE = "Etc/UTC"
INVOKER, ENQUEUER = "invoker", "enqueuer"

#: checkov checks skipped in the generated files, by the kind of resource, with the reason.
SKIPS: dict[str, dict[str, str]] = {
    "bucket": {
        "CKV_GCP_62": "holds transient task records that expire within days; access logs "
        "would outlive them",
        "CKV_GCP_78": "records are rewritten on every state change and deleted when done; "
        "versions would keep every deleted claim check and lease",
    },
    "service": {},
}


def skips(kind: str) -> tuple[Skip, ...]:
    """The checkov skips of one kind of resource."""
    return tuple(Skip(check, reason) for check, reason in SKIPS[kind].items())


def cpus(memory_mb: int) -> str:
    """The CPUs a service with ``memory_mb`` needs at least (one below 4 GiB)."""
    for above, count in CPU_STEPS:
        if memory_mb > above:
            return str(count)
    return "1"


def duration(seconds: float) -> str:
    """Seconds as a protobuf duration string: ``0.5s``, ``600s``."""
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class QueueDecision:
    """The Cloud Tasks and Cloud Run values of one queue, decided together."""

    dispatches_per_second: float
    concurrent_dispatches: int
    retry: QueueRetry
    instance_concurrency: int
    max_instances: int
    deadline: int


class GcpPolicy:
    """Decides every Google Cloud value of a deployment (see the module's docstring)."""

    name = "gcp"
    limits = LIMITS

    def decide(self, deployment: Deployment, settings: DeploySettings) -> GcpPlan:
        """The GCP records of ``deployment``; raises :class:`UndeployableApp` with every
        problem, one line each."""
        decider = Decider(deployment, settings)
        records = decider.records()
        if decider.problems:
            raise UndeployableApp(deployment.app, decider.problems)
        return GcpPlan(deployment=deployment, records=tuple(records))


#: The policy the GCP plug-in names.
POLICY = GcpPolicy()


class Decider:
    """The decisions for one deployment, with the problems found on the way."""

    def __init__(self, deployment: Deployment, settings: DeploySettings) -> None:
        self.deployment = deployment
        self.problems: list[str] = [
            f"settings: queue {queue!r}: {', '.join(given)}: not a GCP setting (none are)"
            for queue, given in settings.queues.items()
            if given
        ]
        if settings.snapstart:
            self.problems.append("settings: snapstart: an AWS Lambda setting; Cloud Run has none")
        try:  # the image's Python and machine, chosen when it is packaged
            PACKAGER.target(settings.runtime, settings.architecture)
        except PackagingError as error:
            self.problems.append(f"settings: {error}")
        self.queues = {q.name: self._queue(q) for q in deployment.of_type(Queue)}
        for task in deployment.tasks:
            problem = deadline_problem(task.timeout_seconds)
            if problem is not None:
                self.problem([task], "timeout", problem)

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
            Delays: self.delays,
            ProducerAccess: self.producer_access,
        }

    def records(self) -> list[Record]:
        """The app-wide accounts, then every resource's records in the model's order."""
        table = self.handlers()
        records: list[Record] = self.accounts()
        records += [record for r in self.deployment.resources for record in table[type(r)](r)]
        return records

    def problem(self, tasks: list[TaskIntent], setting: str, message: str) -> None:
        names = ", ".join(t.name for t in tasks)
        self.problems.append(f"task {names}: {setting}: {message}")

    # --- one queue's values ------------------------------------------------------------------

    def _queue(self, queue: Queue) -> QueueDecision:
        tasks = self.deployment.tasks_of(queue.tasks)
        self._names(queue)
        rates = [t.rate_limit.count / t.rate_limit.per_seconds for t in tasks if t.rate_limit]
        limits = [t.concurrency for t in tasks if t.concurrency is not None]
        if queue.ordered:
            limits.append(1)
        concurrent = min([MAX_CONCURRENT_DISPATCHES, *limits]) if limits else None
        instance = min(INSTANCE_CONCURRENCY, concurrent or INSTANCE_CONCURRENCY)
        return QueueDecision(
            dispatches_per_second=min([MAX_DISPATCHES_PER_SECOND, *rates]),
            concurrent_dispatches=concurrent or DEFAULT_CONCURRENT_DISPATCHES,
            retry=self._retry(tasks),
            instance_concurrency=instance,
            max_instances=math.ceil(concurrent / instance) if concurrent else MAX_INSTANCES,
            deadline=max(deadline_for(t.timeout_seconds) for t in tasks),
        )

    def _retry(self, tasks: list[TaskIntent]) -> QueueRetry:
        """The tasks' own schedule where Cloud Tasks can follow it (one schedule, doubling,
        no jitter), so that the receiver lets Cloud Tasks retry; else the backstop."""
        attempts = max(t.attempts for t in tasks) + EXTRA_ATTEMPTS
        schedules = {
            (t.retry_delay, t.retry_backoff, t.retry_max_delay, t.retry_jitter) for t in tasks
        }
        low, high, doublings = BACKSTOP_RETRY
        if len(schedules) == 1:
            delay, backoff, longest, jitter = next(iter(schedules))
            if backoff == 2.0 and not jitter and delay > 0:
                low, high, doublings = delay, max(delay, longest), MAX_DOUBLINGS
        return QueueRetry(
            max_attempts=attempts,
            min_backoff=low,
            max_backoff=high,
            max_doublings=doublings,
            max_retry_duration=0,
        )

    def _names(self, queue: Queue) -> None:
        """Problems with names that would be too long with the longest stage."""
        app, stage = self.deployment.app, naming.MAX_STAGE_LENGTH
        queue_id = naming.queue(app, queue.queue).longest()
        service = naming.function(app, queue.queue).longest()
        tasks = self.deployment.tasks_of(queue.tasks)
        if queue_id > MAX_QUEUE_ID:
            self.problem(
                tasks,
                "queue",
                f"the Cloud Tasks queue id would be {queue_id} characters with a "
                f"{stage}-character stage; Cloud Tasks allows {MAX_QUEUE_ID}",
            )
        if service > MAX_SERVICE_NAME:
            self.problem(
                tasks,
                "queue",
                f"the Cloud Run service name would be {service} characters with a "
                f"{stage}-character stage; its deterministic URL allows "
                f"{MAX_SERVICE_NAME}: shorten the app's or the queue's name",
            )

    # --- app-wide ----------------------------------------------------------------------------

    def accounts(self) -> list[Record]:
        """The invoker and the enqueuer."""
        app = self.deployment.app
        return [
            ServiceAccount(
                name=INVOKER,
                account=naming.name(app, "invoke"),
                display_name=f"{app}: invokes its task services",
                description="Cloud Tasks and Cloud Scheduler sign their pushes as this account; "
                "it may only invoke the app's Cloud Run services",
            ),
            ServiceAccount(
                name=ENQUEUER,
                account=naming.name(app, "enqueue"),
                display_name=f"{app}: sends tasks",
                description="For producers: may create tasks on the app's queues, hold dedup "
                "keys, store claim checks and read results",
            ),
        ]

    def environment(self) -> dict[str, Setting]:
        """What a producer and every service need to reach the app's resources."""
        return {
            "DISPATCHER_BACKEND": Joined((Text("gcp://"), Project(), Text("/"), Region())),
            STAGE_ENV: Stage(),
            SERVICE_URL_ENV: ServiceUrlTemplate(),
            SERVICE_ACCOUNT_ENV: AccountEmail(INVOKER),
            BUCKET_ENV: BucketName(),
        }

    def producer_access(self, access: ProducerAccess) -> list[Record]:
        """The enqueuer's grants (create tasks on the queues it sends to and act as the
        invoker for them; hold dedup keys and store claim checks; read results), and the
        settings producers use."""
        queues = tuple(
            g.resource
            for g in access.grants
            if g.access == "send" and isinstance(self.deployment.get(g.resource), Queue)
        )
        stores = {type(self.deployment.get(g.resource)) for g in access.grants}
        records: list[Record] = []
        if queues:
            records += [
                QueueGrant(
                    name=f"{ENQUEUER}-send",
                    queues=queues,
                    role="roles/cloudtasks.enqueuer",
                    account=ENQUEUER,
                ),
                ActAsGrant(
                    name=f"{ENQUEUER}-as-invoker",
                    target=INVOKER,
                    role="roles/iam.serviceAccountUser",
                    account=ENQUEUER,
                ),
            ]
        if PayloadStore in stores:
            records.append(
                BucketGrant(
                    name=f"{ENQUEUER}-holds",
                    role="roles/storage.objectUser",
                    account=ENQUEUER,
                    prefixes=(DEDUP_PREFIX, PAYLOADS_PREFIX),
                    condition_title="dedup holds and claim checks only",
                )
            )
        if ResultStore in stores:
            records.append(
                BucketGrant(
                    name=f"{ENQUEUER}-results",
                    role="roles/storage.objectViewer",
                    account=ENQUEUER,
                    prefixes=(RESULTS_PREFIX,),
                    condition_title="results only",
                )
            )
        records.append(
            ProducerSettings(
                name=access.name,
                description="The environment of a producer (run it as the enqueuer account)",
                environment=self.environment(),
                account=ENQUEUER,
            )
        )
        return records

    def delays(self, delays: Delays) -> list[Record]:
        """Nothing: Cloud Tasks holds a task up to 30 days itself, and the receiver hops one
        due later (:data:`adapters.gcp.producer.MAX_SCHEDULE`); no scheduler is needed."""
        return []

    # --- the records of each model resource --------------------------------------------------

    def dead_letter_queue(self, dlq: DeadLetterQueue) -> list[Record]:
        """Nothing: Cloud Tasks has no dead-letter queue. The receiver writes dead letters to
        the bucket (``dead-letters/QUEUE/``), kept by the bucket's rule."""
        return []

    def queue(self, queue: Queue) -> list[Record]:
        """A Cloud Tasks queue."""
        decided = self.queues[queue.name]
        return [
            TasksQueue(
                name=queue.name,
                queue=naming.queue(self.deployment.app, queue.queue),
                description=f"Tasks {', '.join(queue.tasks)}",
                max_dispatches_per_second=decided.dispatches_per_second,
                max_concurrent_dispatches=decided.concurrent_dispatches,
                retry=decided.retry,
                log_sampling_ratio=LOG_SAMPLING_RATIO,
            )
        ]

    def result_store(self, store: ResultStore) -> list[Record]:
        """The app's bucket: private (uniform access, public access prevented), each kind of
        object expiring by its rule."""
        longest_retry = max((t.retry_seconds for t in self.deployment.tasks), default=0.0)
        # A claim check and a dedup hold must outlive the longest countdown and the retries
        # after it: the receiver deletes claim checks itself, the rule catches orphans.
        kept = math.ceil((MAX_DELAY + longest_retry + DEDUP_WINDOW) / DAY) + 1
        return [
            Bucket(
                name=store.name,
                bucket=naming.Name(self.deployment.app, BUCKET, scoped=True),
                description="results, claims, dedup holds, dead letters and claim checks",
                storage_class="STANDARD",
                uniform_access=True,
                public_access_prevention="enforced",
                soft_delete_seconds=0,
                rules=(
                    LifecycleRule(
                        RESULTS_PREFIX, RESULT_DAYS, "results and claims, as long as on AWS"
                    ),
                    LifecycleRule(
                        DEAD_LETTERS_PREFIX, DEAD_LETTER_DAYS, "dead letters, kept for replay"
                    ),
                    LifecycleRule(DEDUP_PREFIX, kept, "dedup holds, past the longest countdown"),
                    LifecycleRule(
                        PAYLOADS_PREFIX, kept, "orphaned claim checks, past the longest countdown"
                    ),
                ),
                skips=skips("bucket"),
            )
        ]

    def payload_store(self, store: PayloadStore) -> list[Record]:
        """Nothing more: claim checks live in the app's bucket under ``payloads/``."""
        return []

    def identity(self, identity: Identity) -> list[Record]:
        """The runner's account and its grants: create tasks on the queues it sends to, read
        the settings of the queue it consumes, use the bucket, act as the invoker."""
        worker = self.deployment.get(identity.worker)
        assert isinstance(worker, Worker)
        sends = tuple(
            g.resource
            for g in identity.grants
            if g.access == "send" and isinstance(self.deployment.get(g.resource), Queue)
        )
        consumes = tuple(g.resource for g in identity.grants if g.access == "consume")
        return [
            ServiceAccount(
                name=identity.name,
                account=naming.name(self.deployment.app, f"{worker.queue}-run"),
                display_name=f"{self.deployment.app}: runs queue {worker.queue}",
                description=f"The identity of the {worker.queue} service",
            ),
            QueueGrant(
                name=f"{identity.name}-send",
                queues=sends,
                role="roles/cloudtasks.enqueuer",
                account=identity.name,
            ),
            QueueGrant(
                name=f"{identity.name}-read",
                queues=consumes,
                role="roles/cloudtasks.viewer",
                account=identity.name,
            ),
            BucketGrant(
                name=f"{identity.name}-objects",
                role="roles/storage.objectUser",
                account=identity.name,
                prefixes=(),
                condition_title="",
            ),
            ActAsGrant(
                name=f"{identity.name}-as-invoker",
                target=INVOKER,
                role="roles/iam.serviceAccountUser",
                account=identity.name,
            ),
        ]

    def worker(self, worker: Worker) -> list[Record]:
        """The Cloud Run service, and the invoker's right to call it."""
        decided = self.queues[worker.queue]
        environment = {
            naming.APP_ENV: Text(self.deployment.app_reference),
            **self.environment(),
            CONCURRENCY_ENV: Text(str(decided.instance_concurrency)),
        }
        memory = worker.memory_mb
        return [
            CloudRunService(
                name=worker.name,
                service=naming.function(self.deployment.app, worker.queue),
                description=f"Runs the tasks of queue {worker.queue}: {', '.join(worker.tasks)}",
                image_variable=IMAGE_VARIABLE,
                port=PORT,
                memory_mb=memory,
                cpu=cpus(memory),
                timeout_seconds=decided.deadline,
                concurrency=decided.instance_concurrency,
                min_instances=0,
                max_instances=decided.max_instances,
                account=worker.identity,
                environment=environment,
                ingress="INGRESS_TRAFFIC_ALL",
                deletion_protection=False,
                skips=skips("service"),
            ),
            InvokerGrant(
                name=f"{worker.name}-invoker",
                service=worker.name,
                role="roles/run.invoker",
                account=INVOKER,
            ),
        ]

    def trigger(self, trigger: Trigger) -> list[Record]:
        """Nothing: each task names its service's URL when it is created (Cloud Tasks pushes
        HTTP tasks where they say)."""
        return []

    def schedule(self, schedule: Schedule) -> list[Record]:
        """A Cloud Scheduler job pushing the task's slot to its queue's service."""
        task = self.deployment.task(schedule.task)
        try:
            if schedule.schedule == "rate":
                line = rate_schedule(schedule.every_seconds or 60)
            else:
                line = cron_schedule(schedule.expression)
        except Untranslatable as error:
            self.problem([task], "schedule", str(error))
            line = ""
        worker = next(w for w in self.deployment.of_type(Worker) if w.queue == schedule.queue)
        return [
            SchedulerJob(
                name=schedule.name,
                job=naming.name(self.deployment.app, schedule.name),
                description=f"Runs {schedule.task} on {schedule.expression!r} (UTC)",
                schedule=line,
                time_zone=TIME_ZONE,
                service=worker.name,
                path=f"{SCHEDULE_PATH}/{schedule.task}",
                attempt_deadline_seconds=SCHEDULE_DEADLINE,
                retry_count=SCHEDULER_RETRIES,
                account=INVOKER,
            )
        ]
