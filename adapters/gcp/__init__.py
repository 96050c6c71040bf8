"""The GCP backend: Cloud Tasks queues pushing to a Cloud Run receiver; results, dead letters
and large bodies in GCS.

Spec: ``gcp://PROJECT/LOCATION`` (or ``gcp`` with ``GOOGLE_CLOUD_PROJECT`` and
``DISPATCHER_GCP_LOCATION``); the rest comes from the environment (see
:mod:`adapters.gcp.config`). Its plug-in object is in ``plugin.py``; the SDKs are imported on
first use. The Cloud Run entrypoint is the ASGI app ``adapters.gcp.entrypoint:app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.gcp.producer import GcpBackend
    from dispatcher.app import Dispatcher


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


__all__ = ["from_spec"]
