"""Azure Storage clients (queues, the claim-check container, the results table), created
lazily and shared by the backend's parts.

The SDKs are imported on first use only, so that importing the adapter (or the function app)
costs nothing until a client is needed; a missing SDK raises
:class:`~dispatcher.errors.MissingDependency` with the install hint. Queue clients carry no
message encode policy: the backend base64-encodes bodies itself (as the Functions host expects)
so that it can measure what Azure counts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from adapters.azure.config import AzureConfig
from dispatcher.errors import MissingDependency

if TYPE_CHECKING:
    from azure.data.tables import TableClient
    from azure.storage.blob import ContainerClient
    from azure.storage.queue import QueueClient, QueueServiceClient

#: Retries of a failed request (with backoff 1 s, then 3 s, then 5 s): the storage SDKs'
#: default (15 s, then 18 s, then 42 s) keeps a caller waiting over a minute.
RETRIES = 3


class Clients:
    """One lazily created client per queue, container and table, shared by the backend."""

    def __init__(self, config: AzureConfig, *, retries: int = RETRIES) -> None:
        self.config, self.retries = config, retries
        self._clients: dict[tuple[str, str], Any] = {}
        self._credential: Any = None
        self._lock = threading.Lock()

    def _get(self, kind: str, name: str) -> Any:
        client = self._clients.get((kind, name))
        if client is None:
            with self._lock:
                client = self._clients.get((kind, name))
                if client is None:
                    client = self._clients[kind, name] = self._create(kind, name)
        return client

    def queue(self, name: str) -> QueueClient:
        """The client of Storage Queue ``name``."""
        client: QueueClient = self._get("queue", name)
        return client

    @property
    def queues(self) -> QueueServiceClient:
        """The account's queue service (listing, creating and deleting queues)."""
        client: QueueServiceClient = self._get("queues", "")
        return client

    def container(self, name: str) -> ContainerClient:
        """The client of blob container ``name``."""
        client: ContainerClient = self._get("container", name)
        return client

    def table(self, name: str) -> TableClient:
        """The client of table ``name``."""
        client: TableClient = self._get("table", name)
        return client

    def _create(self, kind: str, name: str) -> Any:
        try:
            if kind in ("queue", "queues"):
                from azure.storage.queue import ExponentialRetry, QueueClient, QueueServiceClient

                retry = self._backoff(ExponentialRetry)
                if kind == "queues":
                    return self._make(QueueServiceClient, self.config.queue_url, retry_policy=retry)
                return self._make(QueueClient, self.config.queue_url, name, retry_policy=retry)
            if kind == "container":
                from azure.storage.blob import ContainerClient
                from azure.storage.blob import ExponentialRetry as BlobRetry

                retry = self._backoff(BlobRetry)
                return self._make(ContainerClient, self.config.blob_url, name, retry_policy=retry)
            from azure.data.tables import TableClient

            return self._make(TableClient, self.config.table_url, name, retry_total=self.retries)
        except ModuleNotFoundError as error:
            raise MissingDependency(error.name or "azure storage SDK", "azure") from None

    def _backoff(self, policy: Any) -> Any:
        return policy(initial_backoff=1, increment_base=2, retry_total=self.retries)

    def _make(self, kind: Any, url: str, *names: str, **options: Any) -> Any:
        if self.config.connection_string:
            return kind.from_connection_string(self.config.connection_string, *names, **options)
        return kind(url, *names, credential=self.credential(), **options)

    def credential(self) -> Any:
        """The account key (as a named key credential) or an Azure AD identity (the
        configured user-assigned managed identity, if any)."""
        if self._credential is None:
            if self.config.key:
                from azure.core.credentials import AzureNamedKeyCredential

                self._credential = AzureNamedKeyCredential(self.config.account, self.config.key)
            else:
                try:
                    from azure.identity import DefaultAzureCredential
                except ModuleNotFoundError:
                    raise MissingDependency("azure-identity", "azure") from None
                # A user-assigned managed identity is chosen by its client id (the Function
                # App's AzureWebJobsStorage__clientId); None lets Azure pick the only one.
                self._credential = DefaultAzureCredential(
                    managed_identity_client_id=self.config.client_id
                )
        return self._credential

    def close(self) -> None:
        """Close every client created so far."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
