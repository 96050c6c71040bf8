"""The Azure deploy policy: every Azure value decided once, from the neutral model.

One Linux Function App on the Flex Consumption plan serves every task queue Azure can serve:
``function_app.py`` has one queue trigger per such queue and one timer trigger per schedule
(:class:`~adapters.azure.deploy.records.QueueFunction`,
:class:`~adapters.azure.deploy.records.TimerFunction`), and its ``host.json``
(:class:`~adapters.azure.deploy.records.HostJson`) holds the queue trigger's settings, which
are per app. Queues, poison queues, the results table and the blob containers live in one
storage account without shared keys; the app runs as a user-assigned managed identity with one
role assignment per resource it touches, each scoped to that resource. The records are printed
by :mod:`adapters.azure.deploy.terraform` and :mod:`adapters.azure.project` (which
``dispatcher emulate azure``, the local Functions host and ``dispatcher package --provider
azure`` use), so the deployed app, the emulated one and the packaged files read the same
values.

Azure's rules it enforces, with their sources:

- Flex Consumption instances have 512, 2,048 or 4,096 MB
  (https://learn.microsoft.com/en-us/azure/azure-functions/flex-consumption-plan#instance-memory);
  the policy takes 2,048 (Microsoft's default "for most scenarios") or 4,096 when a task asks
  for more, and refuses a task above 4,096 MB.
- ``functionTimeout`` on Flex Consumption defaults to 30 minutes and has no maximum, but an
  execution is given 60 minutes of grace when its instance scales in
  (https://learn.microsoft.com/en-us/azure/azure-functions/functions-scale#timeout): a task
  timeout above 3,600 s is refused.
- Flex Consumption runs Python 3.10 and 3.11 (and later releases since)
  (https://learn.microsoft.com/en-us/azure/azure-functions/flex-consumption-plan#supported-language-stack-versions);
  the app runs the version ``dispatcher package`` builds for (``--runtime``, python3.11 by
  default: :mod:`adapters.azure.package`).
- Maximum instance count: 1 to 1,000 (the azurerm provider's validation of
  ``maximum_instance_count``; 100 by default,
  https://learn.microsoft.com/en-us/azure/azure-functions/flex-consumption-how-to#set-instance-limits).
- host.json's queue settings: ``batchSize`` 1 to 32; an instance runs up to ``batchSize`` +
  ``newBatchThreshold`` messages at once; ``maxDequeueCount`` before the host moves a message
  to ``<queue>-poison``; ``visibilityTimeout`` between a failed run and the retry
  (https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue#host-json).
- Storage Queues deliver in no particular order
  (https://learn.microsoft.com/en-us/azure/storage/queues/storage-queues-introduction): an
  ordered queue (``group_by``) gets no queue, no function and no role; the plan names it in
  ``unserved`` and ``dispatcher infra`` prints why (the producer refuses its tasks too).
- Names: queues at most 56 characters so that ``-poison`` fits, tables letters and digits,
  storage accounts 3-24 lower-case letters and digits and globally unique, Function Apps at
  most 32 characters to keep host ids unique
  (https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules,
  https://github.com/Azure/azure-functions-host/wiki/Host-IDs#host-id-collisions); checked
  with the longest stage (:mod:`adapters.azure.names`), the global names cut and hashed by the
  writer.
- Identity-based host storage needs Storage Blob Data Owner for the host's blobs
  (https://learn.microsoft.com/en-us/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity);
  the policy grants it on the two containers the host uses for queue and timer triggers
  (``azure-webjobs-hosts``: locks and timer schedules, ``azure-webjobs-secrets``: keys),
  created beforehand, rather than on the account. Queue triggers with an identity need to read
  and delete messages and the host writes ``-poison`` messages: Storage Queue Data Contributor
  on each queue and poison queue
  (https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue#grant-permission-to-the-identity).

What an instance runs at once: each message may use the memory its task declares, so an
instance runs at most ``instance memory // the hungriest task's memory`` messages, and at most
the smallest ``concurrency`` a task declares; ``batchSize`` takes that number (up to 32) and
``newBatchThreshold`` the rest. A ``concurrency`` also caps the app's instance count, so that
instances x messages stay within it: one Function App serves every queue, so the cap holds for
all of them (a warning says so). A ``rate_limit`` has no Azure setting and is not honoured (a
warning says so).

checkov checks that do not fit are skipped in the generated file with the reason (``SKIPS``);
everything else it asks for is set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.azure import names
from adapters.azure.config import FUNCTIONS_CONNECTION, IDENTITY_ACCOUNT, IDENTITY_CLIENT_ID
from adapters.azure.config import IDENTITY_CREDENTIAL as IDENTITY_CREDENTIAL_SUFFIX
from adapters.azure.deploy.records import (
    AppInsights,
    AzurePlan,
    ExpiryRule,
    FunctionApp,
    FunctionPlan,
    HostJson,
    LifecyclePolicy,
    LogWorkspace,
    Named,
    QueueFunction,
    Record,
    Ref,
    ResourceGroup,
    RoleAssignment,
    Setting,
    StageSetting,
    StorageAccount,
    StorageContainer,
    StorageQueue,
    StorageTable,
    TimerFunction,
    UserIdentity,
)
from adapters.azure.deploy.schedules import ncrontab
from adapters.azure.package import PACKAGER
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
from dispatcher.errors import Unsupported
from dispatcher.options import Schedule as ScheduleOption

#: The longest function timeout an instance scaling in is given (60 minutes of grace).
MAX_TIMEOUT_SECONDS = 3600
#: Flex Consumption's instance sizes the policy chooses from (512 MB, a quarter of a core, is
#: left out: the default 2,048 MB instance has a whole core).
INSTANCE_SIZES_MB = (2048, 4096)
LIMITS = FunctionLimits(
    kind="Azure Functions app (Flex Consumption)",
    min_memory_mb=64,
    max_memory_mb=INSTANCE_SIZES_MB[-1],
    max_timeout_seconds=MAX_TIMEOUT_SECONDS,
)
RUNTIME = "python"
DEFAULT_MAX_INSTANCES = 100
MAX_BATCH_SIZE = 32
#: Deliveries beyond a task's attempts before the host poisons a message that keeps dying
#: without an outcome: the margin the AWS policy gives SQS's redrive too.
DEQUEUE_MARGIN = 5
#: Seconds of functionTimeout past the longest task timeout (recording the result).
FUNCTION_TIMEOUT_MARGIN = 30
#: Claim checks expire this long after they were last read: a waiting message reads its own at
#: each hop (at most 7 days apart), so only the bodies of old dead letters and orphans go.
CLAIM_CHECK_IDLE_DAYS = 30
SOFT_DELETE_DAYS = 7
LOG_RETENTION_DAYS = 30
UNSERVED_ORDERED = "ordered (group_by), but Azure Storage Queues deliver in no particular order"

#: The principal of the producer roles: the Terraform variable ``producer_principal_id``.
PRODUCER = "producer"
QUEUE_ROLE = "Storage Queue Data Contributor"
QUEUE_SENDER_ROLE = "Storage Queue Data Message Sender"
TABLE_ROLE = "Storage Table Data Contributor"
BLOB_ROLE = "Storage Blob Data Contributor"
HOST_BLOB_ROLE = "Storage Blob Data Owner"
TELEMETRY_ROLE = "Monitoring Metrics Publisher"
#: The containers the Functions host keeps its own blobs in (locks, timer schedules, keys).
HOST_CONTAINERS = {
    "webjobs-hosts": ("azure-webjobs-hosts", "locks and timer schedules"),
    "webjobs-secrets": ("azure-webjobs-secrets", "keys"),
}

#: checkov checks skipped in the generated file, by the kind of resource, with the reason.
SKIPS: dict[str, dict[str, str]] = {
    "storage": {
        "CKV_AZURE_33": "classic Storage Analytics logging writes to the account's own $logs "
        "container, which nothing reads; diagnostic settings to the Log Analytics workspace "
        "are the deployer's choice (and cost per GB)",
        "CKV_AZURE_59": "the Function App reaches its queues over the public endpoint (no "
        "virtual network); every request must be signed by an Entra identity, shared keys "
        "are disabled",
        "CKV2_AZURE_33": "no private endpoint: the Function App runs without a virtual network",
        "CKV2_AZURE_1": "encrypted with Microsoft-managed keys; a customer key is the "
        "deployer's choice",
        "CKV_AZURE_206": "the default ZRS keeps copies in three zones of the region; "
        "geo-redundant replication is the variable storage_replication",
    },
    "table": {
        "CKV2_AZURE_20": "the check asks for Log Analytics storage insights, which read the "
        "account with its key; the account has no shared keys",
    },
    "container": {
        "CKV2_AZURE_21": "the check asks for Log Analytics storage insights, which read the "
        "account with its key; the account has no shared keys",
    },
    "plan": {
        "CKV_AZURE_212": "a Flex Consumption plan has no fixed workers: instances are added "
        "per function as messages arrive",
        "CKV_AZURE_225": "zone redundancy of a Flex Consumption app needs a region that offers "
        "it: the deployer's choice",
    },
}


def skips(kind: str) -> tuple[Skip, ...]:
    """The checkov skips of one kind of resource."""
    return tuple(Skip(check, reason) for check, reason in SKIPS[kind].items())


def identifier(name: str) -> str:
    """A Python identifier from a queue or task name: ``payments`` -> ``payments``."""
    return re.sub(r"\W", "_", name).strip("_").lower() or "default"


@dataclass(frozen=True, slots=True)
class Capacity:
    """What an instance runs at once and how many instances there may be."""

    instance_memory_mb: int
    per_instance: int
    maximum_instances: int


class AzurePolicy:
    """Decides every Azure value of a deployment (see the module's docstring)."""

    name = "azure"
    limits = LIMITS

    def decide(self, deployment: Deployment, settings: DeploySettings) -> AzurePlan:
        """The Azure records of ``deployment``; raises :class:`UndeployableApp` with every
        problem, one line each."""
        decider = Decider(deployment, settings)
        records = decider.records()
        if decider.problems:
            raise UndeployableApp(deployment.app, decider.problems)
        return AzurePlan(
            deployment=deployment,
            records=tuple(records),
            unserved=dict(decider.unserved),
            warnings=tuple(decider.warnings),
        )


#: The policy the Azure plug-in names.
POLICY = AzurePolicy()


class Decider:
    """The decisions for one deployment, with the problems and warnings found on the way."""

    def __init__(self, deployment: Deployment, settings: DeploySettings) -> None:
        self.deployment = deployment
        self.problems: list[str] = [
            f"settings: queue {queue!r}: {', '.join(given)}: Azure takes no per-queue settings "
            "(the queue trigger's batch is host.json's, one for the app)"
            for queue, given in settings.queues.items()
            if given
        ]
        self.warnings: list[str] = []
        self.runtime_version = self._runtime(settings)
        self.unserved = {q.queue: UNSERVED_ORDERED for q in deployment.of_type(Queue) if q.ordered}
        self.served = [q for q in deployment.of_type(Queue) if not q.ordered]
        self.tasks = [t for q in self.served for t in deployment.tasks_of(q.tasks)]
        for queue, why in self.unserved.items():
            self.warnings.append(
                f"task queue {queue}: not deployed: {why}; its tasks cannot be sent on Azure"
            )
        if not self.served:
            self.problems.append(
                f"app {deployment.app!r} has no task queue Azure can serve (every queue is ordered)"
            )
        for task in self.tasks:
            if task.rate_limit is not None:
                rate = task.rate_limit
                per = "s" if rate.per_seconds == 1 else f"{rate.per_seconds:g}s"
                self.warnings.append(
                    f"task {task.name}: rate_limit {rate.count}/{per} is not "
                    "honoured on Azure: the Functions host has no rate setting"
                )
        self._check_names()
        self.capacity = self._capacity()

    def _runtime(self, settings: DeploySettings) -> str:
        """The Python version the Function App runs: the packager's, for ``--runtime`` and
        ``--architecture`` (its defaults when not given)."""
        if settings.snapstart:
            self.problems.append("settings: snapstart: Azure Functions has no SnapStart")
        try:
            target = PACKAGER.target(settings.runtime, settings.architecture)
        except PackagingError as error:
            self.problems.append(f"settings: {error}")
            target = PACKAGER.target()
        return "{}.{}".format(*target.python)

    def handlers(self) -> Mapping[type[Resource], Callable[[Any], list[Record]]]:
        """The explicit table of decisions, one per model resource type."""
        return {
            DeadLetterQueue: self.dead_letter_queue,
            Queue: self.queue,
            ResultStore: self.result_store,
            PayloadStore: self.payload_store,
            Identity: lambda identity: [],  # one identity for the app: see ``app_records``
            Worker: lambda worker: [],  # one Function App for every queue: ``app_records``
            Trigger: self.trigger,
            Schedule: self.schedule,
            # Azure has no scheduler: a delay past 7 days hops (adapters.azure.producer)
            Delays: lambda delays: [],
            ProducerAccess: lambda access: [],  # after the storage: see ``producer_roles``
        }

    def records(self) -> list[Record]:
        """The app-wide records, then every model resource's, then the roles, the Function
        App and host.json."""
        table = self.handlers()
        records: list[Record] = [
            ResourceGroup(name="group", group=Named("hyphenated", "rg")),
            StorageAccount(
                name="storage",
                account=Named("account", ""),
                kind="StorageV2",
                tier="Standard",
                min_tls_version="TLS1_2",
                shared_key_access=False,
                public_blob_access=False,
                soft_delete_days=SOFT_DELETE_DAYS,
                skips=skips("storage"),
            ),
        ]
        for resource in self.deployment.resources:
            records += table[type(resource)](resource)
        records += self.app_records(records)
        return records

    def problem(self, tasks: list[TaskIntent], setting: str, message: str) -> None:
        names_ = ", ".join(t.name for t in tasks)
        self.problems.append(f"task {names_}: {setting}: {message}")

    # --- app-wide values ---------------------------------------------------------------------

    def _check_names(self) -> None:
        """Every name the runtime derives, with the longest stage, against Azure's rules."""
        app, longest = self.deployment.app, "s" * names.MAX_STAGE_LENGTH
        checks: list[tuple[Callable[..., str], tuple[str, ...]]] = [
            (names.table_name, (app, longest)),
            (names.container_name, (app, longest)),
            *((names.queue_name, (app, q.queue, longest)) for q in self.served),
        ]
        for check, args in checks:
            try:
                check(*args)
            except names.InvalidAzureName as error:
                self.problems.append(
                    f"{error} (with a stage of {names.MAX_STAGE_LENGTH} characters)"
                )

    def _capacity(self) -> Capacity:
        if not self.tasks:
            return Capacity(INSTANCE_SIZES_MB[0], 1, 1)
        hungriest = max(t.memory_mb for t in self.tasks)
        size = next((s for s in INSTANCE_SIZES_MB if s >= hungriest), INSTANCE_SIZES_MB[-1])
        per_instance = max(1, size // hungriest)
        limited = [t for t in self.tasks if t.concurrency is not None]
        if not limited:
            return Capacity(size, per_instance, DEFAULT_MAX_INSTANCES)
        tightest = min(limited, key=lambda t: t.concurrency or 0)
        limit = tightest.concurrency or 1
        per_instance = min(per_instance, limit)
        instances = max(1, min(DEFAULT_MAX_INSTANCES, limit // per_instance))
        self.warnings.append(
            f"task {tightest.name}: concurrency {limit}: the Function App runs at most "
            f"{instances} instance(s) of {per_instance} message(s) at once, for every queue "
            "(one Function App serves them all)"
        )
        return Capacity(size, per_instance, instances)

    # --- the records of each model resource --------------------------------------------------

    def queue(self, queue: Queue) -> list[Record]:
        """A Storage Queue for a task queue Azure can serve."""
        if queue.ordered:
            return []
        return [
            StorageQueue(
                name=queue.name,
                queue=Named("hyphenated", queue.physical_name.part),
                task_queue=queue.queue,
            )
        ]

    def dead_letter_queue(self, dlq: DeadLetterQueue) -> list[Record]:
        """The poison queue of a served queue (``<queue>-poison``, where the host moves them)."""
        queue = next(q for q in self.deployment.of_type(Queue) if q.dead_letter == dlq.name)
        if queue.ordered:
            return []
        return [
            StorageQueue(
                name=poison_record(queue.name),
                queue=Named("hyphenated", queue.physical_name.part + names.POISON_SUFFIX),
                task_queue=queue.queue,
                poison_of=queue.name,
            )
        ]

    def result_store(self, store: ResultStore) -> list[Record]:
        """The results table: ``<prefix without hyphens>results``."""
        return [
            StorageTable(
                name=store.name,
                table=Named("compact", store.physical_name.part),
                skips=skips("table"),
            )
        ]

    def payload_store(self, store: PayloadStore) -> list[Record]:
        """The claim-check container, its bodies expiring once unread for a while."""
        return [
            StorageContainer(
                name=store.name,
                container=Named("hyphenated", store.physical_name.part),
                holds="message bodies too large for a queue (claim checks)",
                skips=skips("container"),
            ),
        ]

    def trigger(self, trigger: Trigger) -> list[Record]:
        """A queue trigger of function_app.py."""
        queue = self.deployment.get(trigger.queue)
        assert isinstance(queue, Queue)
        if queue.ordered:
            return []
        return [
            QueueFunction(
                name=trigger.name,
                function="queue_" + identifier(queue.queue),
                queue=Named("hyphenated", queue.physical_name.part),
                task_queue=queue.queue,
                tasks=queue.tasks,
            )
        ]

    def schedule(self, schedule: Schedule) -> list[Record]:
        """A timer trigger of function_app.py, on the NCRONTAB form of the schedule."""
        queue = self.deployment.get(schedule.queue)
        assert isinstance(queue, Queue)
        if queue.ordered:
            return []
        try:
            line = ncrontab(ScheduleOption.parse(schedule.expression), schedule.task)
        except Unsupported as error:
            self.problem([self.deployment.task(schedule.task)], "schedule", str(error))
            return []
        return [
            TimerFunction(
                name=schedule.name,
                function="schedule_" + identifier(schedule.task),
                schedule=line,
                expression=schedule.expression,
                task=schedule.task,
            )
        ]

    # --- the app: containers of the host, identity, roles, logs, plan, Function App ----------

    def app_records(self, decided: list[Record]) -> list[Record]:
        """Everything one Function App needs, after the storage it uses."""
        records: list[Record] = [
            StorageContainer(
                name="package",
                container=Named("hyphenated", "package"),
                holds="the Function App's deployment package",
                skips=skips("container"),
            ),
            *(
                StorageContainer(
                    name=key,
                    container=Named("fixed", fixed),
                    holds=f"the Functions host's {holds}",
                    skips=skips("container"),
                )
                for key, (fixed, holds) in HOST_CONTAINERS.items()
            ),
            LifecyclePolicy(
                name="lifecycle",
                account="storage",
                rules=(ExpiryRule("expire-claim-checks", "claim-checks", CLAIM_CHECK_IDLE_DAYS),),
            ),
            UserIdentity(name="identity", identity=Named("hyphenated", "identity")),
            LogWorkspace(
                name="logs",
                workspace=Named("hyphenated", "logs"),
                sku="PerGB2018",
                retention_days=LOG_RETENTION_DAYS,
            ),
            AppInsights(
                name="insights",
                insights=Named("hyphenated", "insights"),
                workspace="logs",
                application_type="other",
                local_auth=False,
            ),
        ]
        records += self.roles([*decided, *records])
        functions = [*self.deployment_functions(decided)]
        clash = sorted({f for f in functions if functions.count(f) > 1})
        if clash:
            self.problems.append(
                f"two functions of function_app.py would be named {clash[0]!r}: rename a "
                "queue or a task"
            )
        records += [
            FunctionPlan(
                name="plan",
                plan=Named("hyphenated", "plan"),
                os_type="Linux",
                sku="FC1",
                skips=skips("plan"),
            ),
            FunctionApp(
                name="functions",
                app=Named("site", ""),
                plan="plan",
                runtime=RUNTIME,
                runtime_version=self.runtime_version,
                instance_memory_mb=self.capacity.instance_memory_mb,
                maximum_instances=self.capacity.maximum_instances,
                package_container="package",
                identity="identity",
                storage_account="storage",
                insights="insights",
                settings=self.settings(),
                https_only=True,
            ),
            self.host_json(),
        ]
        return records

    def deployment_functions(self, decided: list[Record]) -> list[str]:
        """The Python names of function_app.py's functions."""
        return [r.function for r in decided if isinstance(r, QueueFunction | TimerFunction)]

    def roles(self, decided: list[Record]) -> list[Record]:
        """One role assignment per resource the identity uses, scoped to that resource: the
        neutral model's grants (every identity's: the app has one), then the host's own."""
        by_model: dict[str, Ref] = {}
        for record in decided:
            if isinstance(record, StorageQueue):
                by_model[record.name] = Ref(StorageQueue, record.name)
            elif isinstance(record, StorageTable):
                by_model[record.name] = Ref(StorageTable, record.name)
            elif isinstance(record, StorageContainer):
                by_model[record.name] = Ref(StorageContainer, record.name)
        wanted: dict[tuple[str, str], str] = {}
        for identity in self.deployment.of_type(Identity):
            for grant in identity.grants:
                resource = self.deployment.get(grant.resource)
                target = _role_target(resource, by_model)
                if target is None:
                    continue  # an ordered queue (not deployed), long delays (no scheduler)
                role, reason = target
                wanted.setdefault((role, target_name(resource)), reason)
        for key, (_, holds) in HOST_CONTAINERS.items():
            wanted[(HOST_BLOB_ROLE, key)] = f"the Functions host keeps its {holds} there"
        wanted[(BLOB_ROLE, "package")] = "the Function App reads its deployment package"
        wanted[(TELEMETRY_ROLE, "insights")] = "the Function App sends its logs and metrics"
        kinds: dict[str, type[Record]] = {**{k: v.kind for k, v in by_model.items()}}
        kinds.update({"package": StorageContainer, "insights": AppInsights})
        kinds.update({key: StorageContainer for key in HOST_CONTAINERS})
        app_roles = [
            RoleAssignment(
                name=f"{scope}-{_role_slug(role)}",
                role=role,
                scope=Ref(kinds[scope], scope),
                identity="identity",
                reason=reason,
            )
            for (role, scope), reason in wanted.items()
        ]
        return app_roles + self.producer_roles(by_model)

    def producer_roles(self, by_model: Mapping[str, Ref]) -> list[Record]:
        """What the model lets producers do, for the principal a deployer names (none by
        default): send to the task queues (Storage Queue Data Message Sender), hold dedup keys
        and read results in the table, store claim checks; long delays need nothing (they
        hop)."""
        roles: list[Record] = []
        for access in self.deployment.of_type(ProducerAccess):
            for grant in access.grants:
                wanted = self._producer_role(grant, by_model)
                if wanted is None:
                    continue
                role, reason = wanted
                scope = by_model[grant.resource]
                roles.append(
                    RoleAssignment(
                        name=f"{PRODUCER}-{scope.name}-{_role_slug(role)}",
                        role=role,
                        scope=scope,
                        identity=PRODUCER,
                        reason=f"A producer {reason}",
                    )
                )
        return roles

    def _producer_role(self, grant: Grant, by_model: Mapping[str, Ref]) -> tuple[str, str] | None:
        resource = self.deployment.get(grant.resource)
        if isinstance(resource, Delays) or grant.resource not in by_model:
            return None  # no scheduler; an ordered queue is not deployed
        if isinstance(resource, Queue):
            return QUEUE_SENDER_ROLE, "sends tasks to the queue"
        if isinstance(resource, ResultStore):
            return TABLE_ROLE, "holds dedup keys and reads results"
        if isinstance(resource, PayloadStore):
            return BLOB_ROLE, "stores the bodies too large for a queue"
        raise ValueError(f"no Azure role for a producer's grant on {type(resource).__name__}")

    def settings(self) -> dict[str, Setting | StageSetting]:
        """The app settings: the identity-based storage connection (the queue triggers' and
        the runtime's), telemetry signed with the identity, and the stage names follow."""
        account = Ref(StorageAccount, "storage")
        identity = Ref(UserIdentity, "identity")
        return {
            FUNCTIONS_CONNECTION + IDENTITY_ACCOUNT: Setting(account, "name"),
            FUNCTIONS_CONNECTION + IDENTITY_CREDENTIAL_SUFFIX: Setting(None, "managedidentity"),
            FUNCTIONS_CONNECTION + IDENTITY_CLIENT_ID: Setting(identity, "client_id"),
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": Setting(
                identity, "client_id", "ClientId={};Authorization=AAD"
            ),
            names.STAGE_ENV: StageSetting(),
        }

    def host_json(self) -> HostJson:
        """host.json's queue settings (see the module's docstring)."""
        tasks = self.tasks or list(self.deployment.tasks)
        per_instance = self.capacity.per_instance
        batch = min(MAX_BATCH_SIZE, per_instance)
        return HostJson(
            name="host",
            batch_size=batch,
            new_batch_threshold=per_instance - batch,
            max_dequeue_count=max(t.attempts for t in tasks) + DEQUEUE_MARGIN,
            visibility_timeout=math.ceil(min(t.retry_delay for t in tasks)),
            function_timeout=math.ceil(max(t.timeout_seconds for t in tasks))
            + FUNCTION_TIMEOUT_MARGIN,
            message_encoding="base64",
        )


def poison_record(queue: str) -> str:
    """The record name of a task queue's poison queue."""
    return f"{queue}-poison"


def target_name(resource: Resource) -> str:
    """The record a grant on ``resource`` lands on."""
    if isinstance(resource, DeadLetterQueue):
        return poison_record(resource.name.removesuffix("-dlq"))
    if isinstance(resource, Worker):
        return "insights"
    return resource.name


def _role_target(resource: Resource, by_model: Mapping[str, Ref]) -> tuple[str, str] | None:
    """(role, reason) of a grant on ``resource``; ``None`` when it was not deployed."""
    if isinstance(resource, Worker):
        return TELEMETRY_ROLE, "the Function App sends its logs and metrics"
    if isinstance(resource, Delays) or target_name(resource) not in by_model:
        return None
    if isinstance(resource, Queue):
        return QUEUE_ROLE, "its function takes the messages; every function may send to it"
    if isinstance(resource, DeadLetterQueue):
        return QUEUE_ROLE, "the runtime and the Functions host move poison messages there"
    if isinstance(resource, ResultStore):
        return TABLE_ROLE, "results, idempotency claims, dedup holds, dead-letter reasons"
    if isinstance(resource, PayloadStore):
        return BLOB_ROLE, "claim checks: large message bodies, written, read and deleted"
    raise ValueError(f"no Azure role for a grant on {type(resource).__name__}")


def _role_slug(role: str) -> str:
    words = role.lower().replace("storage ", "").replace(" data", "").split()
    return "-".join(words)
