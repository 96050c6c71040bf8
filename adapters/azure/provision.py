"""Create an app's Azure Storage resources in an account (Azurite, or a sandbox): each task
queue and its poison queue, the results table, the claim-check container. Idempotent.
Deployed infrastructure comes from the generators; this is for local runs and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.azure import names
from adapters.azure.errors import CONFLICT, status_of, translated

if TYPE_CHECKING:
    from adapters.azure.producer import AzureBackend


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` made: Storage Queue and poison queue names by task queue, and the
    table and container names."""

    queues: dict[str, str]
    poison_queues: dict[str, str]
    table: str
    container: str


def provision(backend: AzureBackend) -> Provisioned:
    """Create (or find) every resource the backend's app uses."""
    queues: dict[str, str] = {}
    poison: dict[str, str] = {}
    for queue in backend.app.queues:
        name = backend.queue_name(queue)
        queues[queue], poison[queue] = name, names.poison_queue_name(name)
        for each in (name, poison[queue]):
            _create(f"creating Storage Queue {each!r}", backend.clients.queue(each).create_queue)
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
