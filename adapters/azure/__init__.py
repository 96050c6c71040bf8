"""The Azure backend: Storage Queues fed to an Azure Functions app, results in Table storage,
large bodies in Blob storage.

Spec: ``azure`` (a connection string from ``AZURE_STORAGE_CONNECTION_STRING`` or
``AzureWebJobsStorage``) or ``azure://ACCOUNT`` (see :mod:`adapters.azure.config`). This module
only names the plug-in; the SDKs are imported on first use. The generated ``function_app.py``
(:mod:`adapters.azure.project`) calls :mod:`adapters.azure.entrypoint`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.azure.producer import AzureBackend
    from dispatcher.app import Dispatcher
    from dispatcher.plugins import Plugin


def _plugin() -> Plugin:
    from dispatcher.plugins import Plugin

    return Plugin(
        name="azure",
        description=(
            "Storage Queues -> Azure Functions; results in Table storage, large bodies in Blob "
            "storage"
        ),
        schemes=("azure",),
        backend="adapters.azure:from_spec",
        entrypoints={
            "queue_trigger": "adapters.azure.entrypoint:run_message",
            "timer_trigger": "adapters.azure.entrypoint:run_schedule",
        },
        commands=("adapters.azure.emulate:register",),
        formats={"terraform": "adapters.azure.deploy.terraform:TerraformRenderer"},
        policy="adapters.azure.deploy.policy:POLICY",
        packager="adapters.azure.package:PACKAGER",
        extra="azure",
    )


def __getattr__(name: str) -> Plugin:
    """``PLUGIN``, made on first use: every cold start of the generated functions imports this
    package (for :mod:`adapters.azure.entrypoint`) and needs no plug-in, so it does not pay
    for :mod:`dispatcher.plugins`."""
    if name != "PLUGIN":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    plugin = globals()["PLUGIN"] = _plugin()
    return plugin


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


__all__ = ["PLUGIN", "from_spec"]
