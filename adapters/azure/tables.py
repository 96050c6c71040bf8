"""The five entity operations the backend needs from a table, over azure-data-tables.

:mod:`adapters.azure.results` and :mod:`adapters.azure.dead_letters` call these and decide on
the HTTP status of what they raise (404, 409, 412: :func:`adapters.azure.errors.status_of`),
so that the small signed client of :mod:`adapters.azure.lite` can stand in for the SDK on a
function's cold path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adapters.azure.clients import Clients

#: An entity as a plain mapping (``PartitionKey``, ``RowKey`` and its properties).
Entity = Mapping[str, Any]


class Entities(Protocol):
    """Entity operations on one table."""

    def insert(self, entity: Entity) -> None:
        """Insert a new entity; an existing one with the same keys raises (409)."""
        ...

    def read(self, partition: str, row: str) -> tuple[dict[str, Any], str] | None:
        """The entity and its ETag, or ``None``."""
        ...

    def replace(self, entity: Entity, etag: str | None = None) -> None:
        """Replace the entity; with ``etag`` only if it is unchanged (else 412), without it
        unconditionally (inserting it if missing)."""
        ...

    def delete(self, partition: str, row: str) -> None:
        """Delete the entity (a missing one is fine)."""
        ...

    def partition(self, partition: str) -> list[dict[str, Any]]:
        """Every entity of one partition."""
        ...


class SdkEntities:
    """:class:`Entities` over the ``azure.data.tables.TableClient`` of table ``table`` (taken
    from ``clients`` at each call, so that closed clients are made again)."""

    def __init__(self, clients: Clients, table: str) -> None:
        self.clients, self.table = clients, table

    @property
    def client(self) -> Any:
        """The table's client."""
        return self.clients.table(self.table)

    def insert(self, entity: Entity) -> None:
        """``create_entity``."""
        self.client.create_entity(entity)

    def read(self, partition: str, row: str) -> tuple[dict[str, Any], str] | None:
        """``get_entity``; ``None`` when there is none."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = self.client.get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        return dict(found), str(found.metadata["etag"])

    def replace(self, entity: Entity, etag: str | None = None) -> None:
        """``update_entity`` with ``IfNotModified`` or ``upsert_entity``, replacing."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        if etag is None:
            self.client.upsert_entity(entity, mode=UpdateMode.REPLACE)
        else:
            self.client.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )

    def delete(self, partition: str, row: str) -> None:
        """``delete_entity`` (it ignores a missing entity)."""
        self.client.delete_entity(partition, row)

    def partition(self, partition: str) -> list[dict[str, Any]]:
        """``query_entities`` on the partition key."""
        found = self.client.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
        return [dict(entity) for entity in found]
