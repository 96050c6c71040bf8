"""What the Azure policy decides: plain records the writers print and never recompute.

Each record is one Azure resource (or one file's part: a function of ``function_app.py``,
``host.json``) with every value already chosen. ``name`` is the record's own identifier (from
the neutral model resource it comes from where there is one); writers derive their addresses
from it. Names of cloud resources are :class:`Named` values: the part that follows the app's
prefix (``shop`` or ``shop-dev``: the deployment's stage is only known to the writer's
variables and to the runtime's environment), so that Terraform and
:mod:`adapters.azure.names` spell them the same way. References to other records are
:class:`Ref` values, written in each format's own syntax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from dispatcher.deploy.model import Deployment
from dispatcher.deploy.policy import Skip


@dataclass(frozen=True, slots=True)
class Named:
    """A resource name: ``hyphenated`` is ``<prefix>-<part>`` (``shop-dev-payments``),
    ``compact`` is ``<prefix without hyphens><part>`` (``shopdevresults``: letters and digits
    only), ``account`` and ``site`` the globally unique names of the storage account (compact)
    and the Function App (hyphenated), which the writer cuts to their lengths and ends with a
    hash of the subscription and the prefix, ``fixed`` the part alone (a name Azure itself
    chose, like ``azure-webjobs-hosts``)."""

    style: Literal["hyphenated", "compact", "account", "site", "fixed"]
    part: str


@dataclass(frozen=True, slots=True)
class Ref:
    """The record of type ``kind`` whose ``name`` is ``name``."""

    kind: type[Record]
    name: str


@dataclass(frozen=True, slots=True)
class Setting:
    """An app setting's value: ``template`` with ``{}`` replaced by ``attribute`` of the record
    ``ref`` (``client_id`` of the identity), or ``attribute`` itself when ``ref`` is ``None``."""

    ref: Ref | None
    attribute: str
    template: str = "{}"


@dataclass(frozen=True, slots=True)
class StageSetting:
    """An app setting holding the deployment's stage (the writer's variable)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceGroup:
    """The resource group every resource lives in."""

    name: str
    group: Named


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageAccount:
    """The app's storage account: its queues, table and containers; no shared keys (every
    caller signs in with an identity), TLS 1.2, no public blobs, soft delete."""

    name: str
    account: Named
    kind: str
    tier: str
    min_tls_version: str
    shared_key_access: bool
    public_blob_access: bool
    soft_delete_days: int
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageQueue:
    """A Storage Queue: a task queue, or the poison queue of one (``poison_of``)."""

    name: str
    queue: Named
    task_queue: str
    poison_of: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageTable:
    """The results table (results, claims, dedup holds, dead-letter reasons)."""

    name: str
    table: Named
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageContainer:
    """A private blob container, and what it holds."""

    name: str
    container: Named
    holds: str
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    """Blobs of one container deleted this many days after they were written."""

    name: str
    container: str
    days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecyclePolicy:
    """The account's lifecycle management policy: one expiry rule per container listed."""

    name: str
    account: str
    rules: tuple[ExpiryRule, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserIdentity:
    """The user-assigned managed identity the Function App runs as."""

    name: str
    identity: Named


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleAssignment:
    """One built-in role for the identity, on one resource (its narrowest scope), and why."""

    name: str
    role: str
    scope: Ref
    identity: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogWorkspace:
    """The Log Analytics workspace Application Insights keeps the function logs in."""

    name: str
    workspace: Named
    sku: str
    retention_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AppInsights:
    """Application Insights for the Function App; telemetry signed with the identity only."""

    name: str
    insights: Named
    workspace: str
    application_type: str
    local_auth: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionPlan:
    """The Flex Consumption plan (one app per plan)."""

    name: str
    plan: Named
    os_type: str
    sku: str
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionApp:
    """The Linux Function App on the Flex Consumption plan: runtime, instance size and count,
    the container its package is deployed to, its identity, and its app settings (values
    given as :class:`Ref` are attributes of other records, written by the writer)."""

    name: str
    app: Named
    plan: str
    runtime: str
    runtime_version: str
    instance_memory_mb: int
    maximum_instances: int
    package_container: str
    identity: str
    storage_account: str
    insights: str
    settings: Mapping[str, Setting | StageSetting]
    https_only: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueFunction:
    """A queue-triggered function of ``function_app.py``: its Python name, the task queue it
    serves (its Storage Queue is ``queue``) and that queue's tasks."""

    name: str
    function: str
    queue: Named
    task_queue: str
    tasks: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFunction:
    """A timer-triggered function of ``function_app.py``: it sends ``task`` on an NCRONTAB
    schedule (``expression`` is the declaration's own text)."""

    name: str
    function: str
    schedule: str
    expression: str
    task: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HostJson:
    """``host.json``'s values: the queue trigger's batch, retry and poison settings and the
    function timeout, in seconds (:mod:`adapters.azure.project` writes them as timespans)."""

    name: str
    batch_size: int
    new_batch_threshold: int
    max_dequeue_count: int
    visibility_timeout: int
    function_timeout: int
    message_encoding: str


Record: TypeAlias = (
    "ResourceGroup | StorageAccount | StorageQueue | StorageTable | StorageContainer"
    " | LifecyclePolicy | UserIdentity | RoleAssignment | LogWorkspace | AppInsights"
    " | FunctionPlan | FunctionApp | QueueFunction | TimerFunction | HostJson"
)

#: Every record type, for writers to prove they print them all.
RECORD_TYPES: tuple[type, ...] = (
    ResourceGroup,
    StorageAccount,
    StorageQueue,
    StorageTable,
    StorageContainer,
    LifecyclePolicy,
    UserIdentity,
    RoleAssignment,
    LogWorkspace,
    AppInsights,
    FunctionPlan,
    FunctionApp,
    QueueFunction,
    TimerFunction,
    HostJson,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class AzurePlan:
    """Everything decided for one deployment: the records in dependency order, what is left
    out and why (``unserved``: task queue -> reason), and what the deployer should know
    (``warnings``, one line each)."""

    deployment: Deployment
    records: Sequence[Record]
    unserved: Mapping[str, str]
    warnings: tuple[str, ...]

    def of_type(self, kind: type[T]) -> list[T]:
        """Every record of one type, in order."""
        return [r for r in self.records if isinstance(r, kind)]

    def get(self, kind: type[T], name: str) -> T:
        """The record of type ``kind`` called ``name``."""
        for record in self.records:
            if isinstance(record, kind) and getattr(record, "name", None) == name:
                return record
        raise KeyError(f"{kind.__name__} {name!r}")

    @property
    def host(self) -> HostJson:
        """The host.json values."""
        [host] = self.of_type(HostJson)
        return host
