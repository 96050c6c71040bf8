"""The GCP plug-in (:mod:`dispatcher.plugins`), in its own module: discovering
plug-ins imports this, while a function's cold start (which imports the package for its
entrypoint) does not pay for :mod:`dispatcher.plugins`."""

from __future__ import annotations

from dispatcher.plugins import Plugin

PLUGIN = Plugin(
    name="gcp",
    description="Cloud Tasks queues -> a Cloud Run receiver; results, dead letters in GCS",
    schemes=("gcp",),
    backend="adapters.gcp:from_spec",
    entrypoints={"cloudrun": "adapters.gcp.entrypoint:app"},
    commands=("adapters.gcp.emulate:register",),
    formats={"terraform": "adapters.gcp.deploy.terraform:TerraformRenderer"},
    policy="adapters.gcp.deploy.policy:POLICY",
    packager="adapters.gcp.package:PACKAGER",
    extra="gcp",
)

__all__ = ["PLUGIN"]
