"""One harness per backend: how the shared behaviour tests send raw bodies and run what was
sent on it. A new provider adds its harness here and gets the whole suite."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from dispatcher.testing import InMemoryBackend
from tests.behaviour.apps import app


class Harness(Protocol):
    """A backend under test, with the app of :mod:`tests.behaviour.apps` on it."""

    #: Whether tasks run on the wall clock (the memory backend's clock is virtual).
    real_time: bool
    #: Bodies above this many bytes go through the backend's claim check (0: none).
    payload_limit: int

    def send_raw(self, body: bytes) -> None:
        """Put ``body`` on the ``work`` queue as it is."""

    def drive(self, until: Callable[[], bool], timeout: float = 20.0) -> bool:
        """Run what was sent until ``until()`` (or ``timeout``); whether it came true."""


class MemoryHarness:
    """The in-memory backend: ``drain()`` on a virtual clock."""

    real_time = False
    payload_limit = 0

    def __init__(self) -> None:
        app.use("memory")
        backend = app.backend
        assert isinstance(backend, InMemoryBackend)
        self.backend = backend

    def send_raw(self, body: bytes) -> None:
        from dispatcher.backend import Outgoing
        from dispatcher.envelope import decode

        self.backend.send(Outgoing(decode(body), body, "work"))

    def drive(self, until: Callable[[], bool], timeout: float = 20.0) -> bool:
        self.backend.drain()
        return until()


class LocalHarness:
    """The SQLite backend and its worker."""

    real_time = True
    payload_limit = 0

    def __init__(self, path: Path) -> None:
        from adapters.local.store import LocalBackend

        self.backend = LocalBackend(path, app)
        app.use(self.backend)

    def send_raw(self, body: bytes) -> None:
        self.backend.send_raw("work", body)

    def drive(self, until: Callable[[], bool], timeout: float = 20.0) -> bool:
        from adapters.local.worker import Worker

        worker = Worker(app)
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            if worker.step(wait=0.05) == 0:
                time.sleep(0.05)
        return until()


class AwsHarness:
    """SQS, DynamoDB and S3 on moto; the handler run by the local Lambda runtime."""

    real_time = True
    payload_limit = 1_048_576

    def __init__(self) -> None:
        from adapters.aws.producer import AwsBackend
        from adapters.aws.provision import provision
        from adapters.aws.receiver import SqsEventProcessor
        from adapters.aws.runtime import LocalLambdaRuntime

        app.use("aws://us-east-1")
        backend = app.backend
        assert isinstance(backend, AwsBackend)
        self.backend = backend
        provision(backend)
        processor = SqsEventProcessor(app, backend)
        self.runtime = LocalLambdaRuntime(
            backend,
            "tests.behaviour.apps:app",
            invoke=lambda queue, event, timeout: processor.handle(event),
        )

    def send_raw(self, body: bytes) -> None:
        target = self.backend.target("work")
        self.backend.clients.sqs.send_message(QueueUrl=target.url, MessageBody=body.decode())

    def drive(self, until: Callable[[], bool], timeout: float = 20.0) -> bool:
        return self.runtime.run_until(until, timeout)


class AzureHarness:
    """Storage Queues, Table and Blob storage on Azurite; the generated function app run by
    the local Functions host (in this process, one poll of every queue at a time)."""

    real_time = True
    payload_limit = 49_152  # 64 KiB of base64

    def __init__(self, connection: str, folder: Path) -> None:
        from adapters.azure import project
        from adapters.azure.config import AzureConfig
        from adapters.azure.host import LocalFunctionsHost, load_function_app
        from adapters.azure.producer import AzureBackend
        from adapters.azure.provision import provision

        self.backend = AzureBackend(app, AzureConfig.from_connection_string(connection))
        app.use(self.backend)
        provision(self.backend)
        project.write(project.plan_for(app, "tests.behaviour.apps:app"), folder)
        self.host = LocalFunctionsHost(
            load_function_app(folder / "function_app.py"),
            environ={"AzureWebJobsStorage": connection},
        )

    def send_raw(self, body: bytes) -> None:
        from adapters.azure.encoding import encode

        self.backend.put(self.backend.queue_name("work"), encode(body))

    def drive(self, until: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            if sum(self.host.poll(function) for function in self.host.queue_functions) == 0:
                time.sleep(0.05)
        return until()

    def close(self) -> None:
        """Stop the functions' backends and the host's clients."""
        from adapters.azure import entrypoint

        entrypoint.reset()
        self.host.close()


class GcpHarness:
    """Cloud Tasks and GCS on their emulators, the receiver served by uvicorn on 127.0.0.1:
    the emulator's own HTTP pushes run the tasks (with tokens the receiver verifies)."""

    real_time = True
    payload_limit = 1_000_000

    def __init__(self, spec: str, service_url: str) -> None:
        from adapters.gcp.producer import GcpBackend
        from adapters.gcp.provision import provision
        from tests.gcp.conftest import Receiver

        app.use(spec)
        backend = app.backend
        assert isinstance(backend, GcpBackend)
        self.backend = backend
        provision(backend, reference="tests.behaviour.apps:app")
        self.receiver = Receiver(int(service_url.rsplit(":", 1)[1]))

    def __enter__(self) -> GcpHarness:
        from adapters.gcp.producer import GcpBackend

        self.receiver.__enter__()  # it loads the app, with its own backend
        backend = app.backend  # the receiver's, now on the app
        assert isinstance(backend, GcpBackend)
        self.backend = backend
        return self

    def __exit__(self, *exc: object) -> None:
        self.receiver.__exit__(*exc)

    def send_raw(self, body: bytes) -> None:
        from adapters.gcp.producer import deadline_for

        self.backend.create_task("work", body, {}, deadline_for(10), 0, None)

    def drive(self, until: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        return until()


@contextmanager
def closing() -> Iterator[None]:
    """Close the app's backend when the test ends."""
    try:
        yield
    finally:
        app.close()
