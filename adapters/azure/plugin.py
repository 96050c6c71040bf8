"""The Azure plug-in (:mod:`dispatcher.plugins`), in its own module: discovering
plug-ins imports this, while a function's cold start (which imports the package for its
entrypoint) does not pay for :mod:`dispatcher.plugins`."""

from __future__ import annotations

from dispatcher.plugins import Plugin

PLUGIN = Plugin(
    name="azure",
    description=(
        "Storage Queues -> Azure Functions; results in Table storage, large bodies in Blob storage"
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

__all__ = ["PLUGIN"]
