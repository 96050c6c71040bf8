"""Google Cloud clients, created lazily and shared by the backend's parts: Cloud Tasks
(gRPC) and Cloud Storage.

The SDKs are imported on first use only, so importing the adapter (or the receiver's
entrypoint) costs nothing until a client is needed; a missing SDK raises
:class:`~dispatcher.errors.MissingDependency` with the install hint. With
``CLOUD_TASKS_EMULATOR_HOST`` / ``STORAGE_EMULATOR_HOST`` set, the clients talk to the
emulators without credentials.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

from adapters.gcp.config import GcpConfig
from adapters.gcp.objects import GcsObjects, Objects
from dispatcher.errors import MissingDependency

# google-api-core warns on every import that Python 3.11 support ends in 2027: not news to
# anyone running a task, and printed by every command.
warnings.filterwarnings(
    "ignore", category=FutureWarning, module=r"google\.api_core\._python_version_support"
)


class Clients:
    """The Cloud Tasks client and the app's bucket (``objects``), each created on first use.
    A test may put another :class:`~adapters.gcp.objects.Objects` in ``objects``."""

    def __init__(self, config: GcpConfig) -> None:
        self.config = config
        self._tasks: Any = None
        self._storage: Any = None
        self._lock = threading.Lock()
        self.objects: Objects = GcsObjects(lambda: self.storage, config.bucket)

    @property
    def tasks(self) -> Any:
        """The ``CloudTasksClient``."""
        if self._tasks is None:
            with self._lock:
                if self._tasks is None:
                    self._tasks = self._create_tasks()
        return self._tasks

    @property
    def storage(self) -> Any:
        """The ``google.cloud.storage.Client``."""
        if self._storage is None:
            with self._lock:
                if self._storage is None:
                    self._storage = self._create_storage()
        return self._storage

    def _create_tasks(self) -> Any:
        try:
            from google.cloud import tasks_v2
        except ModuleNotFoundError:
            raise MissingDependency("google-cloud-tasks", "gcp") from None
        endpoint = self.config.tasks_endpoint
        if endpoint is None:
            return tasks_v2.CloudTasksClient()
        import grpc
        from google.cloud.tasks_v2.services.cloud_tasks.transports import (
            CloudTasksGrpcTransport,
        )

        channel = grpc.insecure_channel(endpoint.removeprefix("http://"))
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))

    def _create_storage(self) -> Any:
        try:
            import google.cloud.storage as storage
        except ModuleNotFoundError:
            raise MissingDependency("google-cloud-storage", "gcp") from None
        endpoint = self.config.storage_endpoint
        if endpoint is None:
            return storage.Client(project=self.config.project)
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        if "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        return storage.Client(
            project=self.config.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )

    def close(self) -> None:
        """Close the clients created so far."""
        with self._lock:
            if self._tasks is not None:
                self._tasks.transport.close()
            if self._storage is not None:
                self._storage.close()
            self._tasks = self._storage = None
            if isinstance(self.objects, GcsObjects):
                self.objects.reset()
