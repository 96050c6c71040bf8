"""The GCP backend: Cloud Tasks queues pushing to a Cloud Run receiver; results, dead letters
and large bodies in GCS.

Spec: ``gcp://PROJECT/LOCATION`` (or ``gcp`` with ``GOOGLE_CLOUD_PROJECT`` and
``DISPATCHER_GCP_LOCATION``); the rest comes from the environment (see
:mod:`adapters.gcp.config`). This module only names the plug-in; the SDKs are imported on
first use. The Cloud Run entrypoint is the ASGI app ``adapters.gcp.entrypoint:app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.plugins import Plugin

if TYPE_CHECKING:
    from adapters.gcp.producer import GcpBackend
    from dispatcher.app import Dispatcher

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


def from_spec(spec: str, app: Dispatcher) -> GcpBackend:
    """The backend for ``gcp://PROJECT/LOCATION``."""
    import importlib.util

    from adapters.gcp.config import GcpConfig
    from adapters.gcp.producer import GcpBackend
    from dispatcher.errors import MissingDependency

    try:
        found = importlib.util.find_spec("google.cloud.tasks_v2")
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise MissingDependency("google-cloud-tasks", "gcp")
    return GcpBackend(app, GcpConfig.from_spec(spec, app.name))


__all__ = ["PLUGIN", "from_spec"]
