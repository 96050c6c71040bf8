"""The producer: the HTTP task it builds (the rules the emulator does not enforce are checked
on the request), dedup by task name and by our own record, batches, and the operations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from adapters.gcp.producer import (
    MAX_SCHEDULE,
    GcpBackend,
    TaskNameTaken,
    dedup_task_id,
    dispatch_deadline,
)
from dispatcher.backend import Outgoing
from dispatcher.errors import InvalidTaskOption
from tests.gcp import apps
from tests.gcp.conftest import Gcp

pytestmark = pytest.mark.emulator


def _task(backend: GcpBackend, message: Outgoing, name: str | None = None) -> Any:
    return backend.build_task(
        message.queue, message.body, {}, dispatch_deadline(message), message.delay, name
    )


def test_the_task_is_an_authenticated_json_push_to_the_receiver(deployed: Gcp) -> None:
    message = apps.add.message((1, 2))
    task = _task(deployed.backend, message)
    request = task.http_request
    assert request.url == deployed.receiver_url + "/tasks"
    assert request.http_method.name == "POST" and request.body == message.body
    assert request.headers["Content-Type"] == "application/json"
    assert request.oidc_token.service_account_email == deployed.backend.config.invoker()
    assert request.oidc_token.audience == deployed.receiver_url  # Cloud Run wants its URL
    assert task.dispatch_deadline.total_seconds() == 20  # timeout 10 s + 10 s margin
    assert not task.name  # no name, no dedup lookup cost


def test_deadlines_stay_within_15_seconds_and_30_minutes(deployed: Gcp) -> None:
    short = Outgoing(apps.add.message((1, 1)).envelope, b"{}", "default", timeout=1)
    assert dispatch_deadline(short) == 15
    edge = Outgoing(short.envelope, b"{}", "default", timeout=1_800)
    assert dispatch_deadline(edge) == 1_800


def test_a_timeout_over_30_minutes_is_refused_before_sending(deployed: Gcp) -> None:
    config = deployed.backend.config
    apps.oversized.use(f"gcp://{config.project}/{config.location}")
    try:
        with pytest.raises(InvalidTaskOption) as refused:
            apps.too_long.delay()  # its queue does not even exist: nothing is sent
    finally:
        apps.oversized.close()
    assert str(refused.value) == (
        "task 'tests.gcp.apps.too_long': option 'timeout': 3600s is longer than the 30 "
        "minutes Cloud Tasks allows an HTTP task (dispatch_deadline 15 s to 30 min)"
    )


def test_countdowns_become_schedule_times_capped_at_30_days(deployed: Gcp) -> None:
    soon = apps.add.message((1, 1), countdown=90)
    task = _task(deployed.backend, soon)
    assert task.schedule_time.timestamp() == pytest.approx(time.time() + 90, abs=2)
    far = apps.add.message((1, 1), countdown=90 * 86_400)
    task = _task(deployed.backend, far)
    assert task.schedule_time.timestamp() == pytest.approx(time.time() + MAX_SCHEDULE, abs=2)


def test_a_dedup_key_names_the_task(deployed: Gcp) -> None:
    message = apps.add.message((1, 1), dedup_key="order-1")
    deployed.pause()
    handle = apps.add.send(args=(1, 1), dedup_key="order-1")
    [task] = deployed.tasks()
    queue_id = deployed.backend.config.queue_id("default")
    assert task.name.endswith("/tasks/" + dedup_task_id(queue_id, "order-1"))  # type: ignore[attr-defined]
    name = task.name.rsplit("/", 1)[1]  # type: ignore[attr-defined]
    assert len(name) <= 500 and name.isalnum()
    assert message.envelope.id != handle.id


def test_dedup_is_honoured_although_the_emulator_does_not_dedup(deployed: Gcp) -> None:
    deployed.pause()
    first = apps.add.send(args=(1, 1), dedup_key="k")
    second = apps.add.send(args=(1, 1), dedup_key="k")
    assert second.id == first.id
    assert len(deployed.tasks()) == 1
    other = apps.add.send(args=(1, 1), dedup_key="other")
    assert other.id != first.id and len(deployed.tasks()) == 2


def already_exists(request: Any) -> str:
    """CreateTask answering ALREADY_EXISTS, as Cloud Tasks does when the name is in use (the
    emulator never does); put in place of the real call on the backend's clients."""
    from google.api_core.exceptions import AlreadyExists

    raise AlreadyExists("Requested entity already exists")


def test_already_exists_means_already_sent_and_the_handle_follows_the_first(
    deployed: Gcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed.pause()
    first = apps.add.send(args=(1, 1), dedup_key="late")
    backend = deployed.backend
    key = backend.results.hold_key_name(backend.config.queue_id("default"), "late")
    backend.clients.objects.write(key, b'{"holder": "%s", "until": 0}' % first.id.encode())
    monkeypatch.setattr(backend.clients, "create_task", already_exists)
    again = apps.add.send(args=(1, 1), dedup_key="late")
    monkeypatch.undo()
    assert again.id == first.id  # our record had expired, Cloud Tasks still knew the name
    assert backend.results.hold_key("gcptest-default", "late", "x", 60).holder == first.id


def test_already_exists_without_a_known_first_is_an_error(
    deployed: Gcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = deployed.backend
    monkeypatch.setattr(backend.clients, "create_task", already_exists)
    with pytest.raises(TaskNameTaken):
        apps.add.send(args=(1, 1), dedup_key="unknown-first")
    monkeypatch.undo()
    # The hold was released: a later send goes.
    deployed.pause()
    apps.add.send(args=(1, 1), dedup_key="unknown-first")
    assert len(deployed.tasks()) == 1


class Concurrency:
    """The real CreateTask, counting how many calls are in flight at once."""

    def __init__(self, create: Callable[[Any], str]) -> None:
        self.create, self.current, self.most = create, 0, 0
        self.lock = threading.Lock()

    def __call__(self, request: Any) -> str:
        with self.lock:
            self.current += 1
            self.most = max(self.most, self.current)
        try:
            time.sleep(0.02)
            return self.create(request)
        finally:
            with self.lock:
                self.current -= 1


def test_a_batch_is_sent_concurrently_and_in_order(
    deployed: Gcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed.pause()
    backend = deployed.backend
    counting = Concurrency(backend.clients.create_task)
    monkeypatch.setattr(backend.clients, "create_task", counting)
    handles = apps.add.map((i, i) for i in range(20))
    monkeypatch.undo()
    assert counting.most > 1
    assert len({h.id for h in handles}) == 20 and len(deployed.tasks()) == 20


class Recording:
    """The real client, recording the DeleteTask requests it passes on."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.deleted: list[str] = []

    def delete_task(self, **kwargs: Any) -> Any:
        self.deleted.append(kwargs["name"])
        return self.client.delete_task(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_revoke_records_and_deletes_the_task(deployed: Gcp) -> None:
    deployed.pause()
    keep = apps.add.delay(1, 1)
    handle = apps.add.delay(2, 2)
    task_name = deployed.backend.find_task("default", handle.id)
    backend = deployed.backend
    recording = Recording(backend.clients.tasks)
    backend.clients._tasks = recording
    try:
        backend.revoke(handle.id, apps.add.name)  # the emulator answers DeleteTask with 501
    finally:
        backend.clients._tasks = recording.client
    assert recording.deleted == [task_name]
    assert task_name != backend.find_task("default", keep.id)
    record = handle.status()
    assert record is not None and record.status.value == "revoked"


def test_purge_and_queue_counts(deployed: Gcp) -> None:
    deployed.pause()
    apps.add.delay(1, 1)
    apps.add.delay(2, 2)
    apps.add.send(args=(3, 3), countdown=600)
    [stat] = deployed.backend.queue_stats(["default"])
    assert (stat.depth, stat.in_flight, stat.delayed, stat.dead_letters) == (2, 0, 1, 0)
    assert deployed.backend.purge("default") == 3
    assert deployed.tasks() == []


def test_a_missing_queue_is_named(deployed: Gcp) -> None:
    from dispatcher.errors import QueueNotFound

    deployed.backend.clients.tasks.delete_queue(name=deployed.backend.config.queue_path("default"))
    with pytest.raises(QueueNotFound, match="queue"):
        apps.add.delay(1, 1)
