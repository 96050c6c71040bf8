"""Fixtures for the Azure backend: the session's Azurite (``tests/conftest.py``) emptied before
each test, and the test app deployed into it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.azure.config import AzureConfig
from adapters.azure.encoding import decode
from adapters.azure.producer import AzureBackend
from adapters.azure.provision import Provisioned, provision
from adapters.azure.receiver import QueueReceiver
from tests.azure import apps


def _empty(connection: str) -> None:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    with QueueServiceClient.from_connection_string(connection) as queues:
        for queue in queues.list_queues():
            queues.delete_queue(queue.name)
    with TableServiceClient.from_connection_string(connection) as tables:
        for table in tables.list_tables():
            tables.delete_table(table.name)
    with BlobServiceClient.from_connection_string(connection) as blobs:
        for container in blobs.list_containers():
            blobs.delete_container(container.name)


@pytest.fixture
def storage(azurite_connection: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty Azurite account in ``AZURE_STORAGE_CONNECTION_STRING``; the test app's calls
    are forgotten."""
    _empty(azurite_connection)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection)
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    apps.CALLS.clear()
    yield azurite_connection
    apps.app.close()


@dataclass
class Sent:
    """One put the recording client passed on: the text, the options and Azure's answer."""

    text: str
    options: dict[str, Any]
    answer: Any = None

    @property
    def hidden_for(self) -> float:
        """Seconds Azure hides the message for (its visibility on put)."""
        return float((self.answer.next_visible_on - self.answer.inserted_on).total_seconds())


@dataclass
class Recording:
    """A real queue client whose puts are recorded (how many ran at once too), and made to
    fail on the calls numbered in ``fail_on``."""

    inner: Any
    fail_on: set[int] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)
    running: int = 0
    most: int = 0
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_message(self, text: str, **options: Any) -> Any:
        with self.lock:
            self.calls += 1
            call = self.calls
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if call in self.fail_on:
                from azure.core.exceptions import ServiceRequestError

                raise ServiceRequestError("connection reset")
            answer = self.inner.send_message(text, **options)
            self.sent.append(Sent(text, options, answer))
            return answer
        finally:
            with self.lock:
                self.running -= 1

    def show(self, sent: Sent) -> None:
        """Make a message put through this client visible now."""
        self.inner.update_message(sent.answer.id, sent.answer.pop_receipt, visibility_timeout=0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Deployed:
    """The test app on Azurite: its backend, resources and helpers to move messages by hand."""

    backend: AzureBackend
    made: Provisioned

    def queue(self, queue: str = "default", *, poison: bool = False) -> Any:
        """The client of a task queue's Storage Queue (or its poison queue)."""
        name = self.made.poison_queues[queue] if poison else self.made.queues[queue]
        return self.backend.clients.queue(name)

    def receive(self, queue: str = "default", *, poison: bool = False) -> list[Any]:
        """Every visible message, hidden for a minute (one receive of up to 32)."""
        client = self.queue(queue, poison=poison)
        return list(client.receive_messages(messages_per_page=32, visibility_timeout=60))

    def peek(self, queue: str = "default", *, poison: bool = False) -> list[Any]:
        """Up to 32 visible messages, left as they are."""
        return list(self.queue(queue, poison=poison).peek_messages(max_messages=32))

    def send_raw(self, text: str, queue: str = "default") -> str:
        """Put message text on a queue as it is (no envelope, no encoding)."""
        return str(self.queue(queue).send_message(text).id)

    def record(self, queue: str = "default", **options: Any) -> Recording:
        """Record the puts to a task queue's Storage Queue from now on."""
        name = self.made.queues[queue]
        recording = Recording(self.backend.clients.queue(name), **options)
        self.backend.clients._clients["queue", name] = recording
        return recording

    def receiver(self, **options: Any) -> QueueReceiver:
        """An in-process receiver for the test app."""
        return QueueReceiver(apps.app, self.backend, **options)

    def run(
        self, message: Any, queue: str = "default", receiver: QueueReceiver | None = None
    ) -> Any:
        """Hand a received message to a receiver, as the function would, then delete it as the
        host does when the function returns; the outcome."""
        outcome = (receiver or self.receiver()).handle(
            queue,
            decode(message.content),
            dequeue_count=message.dequeue_count,
            message_id=message.id,
        )
        self.queue(queue).delete_message(message)
        return outcome


def deploy(connection: str) -> Deployed:
    """Point the test app at Azurite and create its resources."""
    apps.app.use(AzureBackend(apps.app, AzureConfig.from_connection_string(connection)))
    backend = apps.app.backend
    assert isinstance(backend, AzureBackend)
    return Deployed(backend, provision(backend))


@pytest.fixture
def deployed(storage: str) -> Deployed:
    """The test app deployed on Azurite."""
    return deploy(storage)
