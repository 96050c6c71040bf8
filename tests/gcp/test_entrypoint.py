"""The ASGI app: Cloud Scheduler's pushes for periodic tasks (one send per slot), behind the
same token check."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.gcp import apps
from tests.gcp.conftest import Gcp, wait_for

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
