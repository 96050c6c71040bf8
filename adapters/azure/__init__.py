"""The Azure backend: Storage Queues fed to an Azure Functions app, results in Table storage,
large bodies in Blob storage.

Spec: ``azure`` (a connection string from ``AZURE_STORAGE_CONNECTION_STRING`` or
``AzureWebJobsStorage``) or ``azure://ACCOUNT`` (see :mod:`adapters.azure.config`). The plug-in
object is in ``plugin.py``; the SDKs are imported on first use. The generated
``function_app.py`` (:mod:`adapters.azure.project`) calls :mod:`adapters.azure.entrypoint`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.azure.producer import AzureBackend
    from dispatcher.app import Dispatcher


def from_spec(spec: str, app: Dispatcher) -> AzureBackend:
    """The backend for ``azure`` or ``azure://ACCOUNT``."""
    import importlib.util

    from adapters.azure.config import AzureConfig
    from adapters.azure.producer import AzureBackend
    from dispatcher.errors import MissingDependency

    for module, package in (
        ("azure.storage.queue", "azure-storage-queue"),
        ("azure.data.tables", "azure-data-tables"),
    ):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its parent package is missing
            found = False
        if not found:
            raise MissingDependency(package, "azure")
    return AzureBackend(app, AzureConfig.from_spec(spec))


__all__ = ["from_spec"]
