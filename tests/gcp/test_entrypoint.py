"""The ASGI app: Cloud Scheduler's pushes for periodic tasks (one send per slot), behind the
same token check; where tasks run (the event loop at one request at a time, else a worker
thread)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import cast

import pytest

from adapters.gcp.config import CONCURRENCY_ENV
from adapters.gcp.entrypoint import THREADS, instance_concurrency
from dispatcher.errors import BackendNotConfigured
from tests.gcp import apps
from tests.gcp.conftest import Gcp, Receiver, wait_for

pytestmark = pytest.mark.emulator


def test_a_scheduler_push_sends_the_periodic_task_once_per_slot(gcp: Gcp) -> None:
    slot = {"X-CloudScheduler-ScheduleTime": "2026-11-27T10:00:00Z"}
    path = "/schedules/" + apps.tick.name
    first = gcp.push(b"", slot, path=path)
    assert first[0] == 200 and first[1].startswith("sent ")
    assert gcp.push(b"", slot, path=path) == first  # the same slot again: the same message
    wait_for(lambda: apps.CALLS.count(("tick", None)) == 1)


def test_only_periodic_tasks_and_good_tokens(gcp: Gcp) -> None:
    assert gcp.push(b"", path="/schedules/" + apps.add.name)[0] == 404
    assert gcp.push(b"", path="/schedules/" + apps.tick.name, token=None)[0] == 401
    assert apps.CALLS == []


def test_other_paths_and_methods_are_refused(gcp: Gcp) -> None:
    assert gcp.push(b"{}", path="/elsewhere") == (404, "not found")
    assert gcp.push(b"{}", path="/schedules/") == (404, "not found")
    request = urllib.request.Request(gcp.receiver_url + "/tasks", method="GET")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "POST"
    assert apps.CALLS == []


def test_one_request_at_a_time_runs_the_task_on_the_event_loop(
    deployed: Gcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(deployed.receiver_url.rsplit(":", 1)[1])
    monkeypatch.setenv(CONCURRENCY_ENV, "1")
    with Receiver(port) as receiver:
        assert deployed.push(apps.where.message(("one",)).body)[0] == 200
    monkeypatch.setenv(CONCURRENCY_ENV, "40")
    with Receiver(port):
        assert deployed.push(apps.where.message(("forty",)).body)[0] == 200
    threads = dict(cast("list[tuple[str, str]]", [args for _, args in apps.CALLS]))
    assert threads["one"] == receiver.thread.name  # uvicorn's loop ran it: no hop
    assert threads["forty"].startswith("receiver-")  # the loop stays free for other requests


def test_the_instance_concurrency_comes_from_the_environment() -> None:
    assert instance_concurrency({}) == THREADS
    assert instance_concurrency({CONCURRENCY_ENV: " 1 "}) == 1
    for bad in ("0", "-3", "many", "2.5"):
        with pytest.raises(BackendNotConfigured, match=f"{CONCURRENCY_ENV} must be a whole"):
            instance_concurrency({CONCURRENCY_ENV: bad})


def test_beside_the_loop_a_task_may_run_an_event_loop_of_its_own(
    deployed: Gcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(deployed.receiver_url.rsplit(":", 1)[1])
    monkeypatch.setenv(CONCURRENCY_ENV, "1")
    with Receiver(port) as receiver:
        for task, key in ((apps.with_asyncio_run, "sync"), (apps.coroutine, "async")):
            message = task.message((key,))
            assert deployed.push(message.body) == (200, "done")
            assert deployed.backend.results.get(message.envelope.id).value == key  # type: ignore[union-attr]
        assert deployed.push(apps.where.message(("after",)).body)[0] == 200  # the loop serves on
    threads = {
        args[0]: args[1] for _, args in cast("list[tuple[str, tuple[str, str]]]", apps.CALLS)
    }
    assert threads == {
        "sync": receiver.thread.name,
        "async": receiver.thread.name,
        "after": receiver.thread.name,
    }
