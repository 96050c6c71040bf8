"""Create an app's Azure Storage resources in an account (Azurite, or a sandbox): the queues,
poison queues, table and claim-check container the Azure deploy policy decides (the same plan
the generated infrastructure carries out: an ordered queue, which Azure cannot serve, gets none),
named for the backend's stage. Idempotent. Deployed infrastructure comes from the generators;
this is for local runs and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.azure import names
from adapters.azure.errors import CONFLICT, status_of, translated

if TYPE_CHECKING:
    from adapters.azure.deploy.records import AzurePlan
    from adapters.azure.producer import AzureBackend


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` made: Storage Queue and poison queue names by task queue, and the
    table and container names."""

    queues: dict[str, str]
    poison_queues: dict[str, str]
    table: str
    container: str


def provision(backend: AzureBackend, plan: AzurePlan | None = None) -> Provisioned:
    """Create (or find) the storage ``plan`` (by default the policy's plan of the backend's
    app) decides: its queues and poison queues, the results table, the claim-check
    container."""
    from adapters.azure.deploy.records import StorageQueue

    if plan is None:
        from adapters.azure.project import plan_for

        plan = plan_for(backend.app, backend.app.name)
    queues: dict[str, str] = {}
    poison: dict[str, str] = {}
    for record in plan.of_type(StorageQueue):
        name = backend.queue_name(record.task_queue)
        if record.poison_of is not None:
            name = poison[record.task_queue] = names.poison_queue_name(name)
        else:
            queues[record.task_queue] = name
        _create(f"creating Storage Queue {name!r}", backend.clients.queue(name).create_queue)
    _create(
        f"creating table {backend.table!r}",
        backend.clients.table(backend.table).create_table,
    )
    container = backend.claim_checks.container
    _create(
        f"creating blob container {container!r}",
        backend.clients.container(container).create_container,
    )
    return Provisioned(queues, poison, backend.table, container)


def _create(what: str, make: Any) -> None:
    try:
        make()
    except Exception as error:
        # It exists already: 409, or for a queue 204, which the SDK raises as
        # ResourceExistsError too.
        if status_of(error) != CONFLICT and type(error).__name__ != "ResourceExistsError":
            with translated(what):
                raise
