"""The local Functions host on Azurite: host.json's settings, deletes on success, the host's
own retry and poison rules, batches and leases, timers, and a host killed mid-task."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.azure import entrypoint, project
from adapters.azure.dead_letters import NO_REASON, NOT_BASE64
from adapters.azure.host import (
    HostSettings,
    LocalFunctionsHost,
    TimerFunction,
    load_function_app,
    parse_ncrontab,
)
from tests.azure import apps
from tests.azure.conftest import Deployed

pytestmark = pytest.mark.emulator
ROOT = Path(__file__).resolve().parents[2]


def test_settings_come_from_host_json() -> None:
    settings = HostSettings.from_host_json(
        project.host_json(project.plan_for(apps.app, "tests.azure.apps:app"))
    )
    assert settings == HostSettings(
        batch_size=8,  # as the Azure policy decides for the test app
        new_batch_threshold=0,
        max_dequeue_count=9,
        visibility_timeout=0.0,
        max_polling_interval=60.0,
        function_timeout=40.0,
    )
    assert HostSettings.from_host_json({}) == HostSettings()
    assert (
        HostSettings.from_host_json(
            {"extensions": {"queues": {"batchSize": 4}}}
        ).new_batch_threshold
        == 2
    )
    with pytest.raises(ValueError, match="within 1-32"):
        HostSettings.from_host_json({"extensions": {"queues": {"batchSize": 33}}})
    assert parse_ncrontab("0 */5 * * * *").minutes == frozenset(range(0, 60, 5))
    with pytest.raises(ValueError, match="whole minutes"):
        parse_ncrontab("*/10 * * * * *")


def _generated(tmp_path: Path, storage: str, **settings: Any) -> LocalFunctionsHost:
    project.write(project.plan_for(apps.app, "tests.azure.apps:app"), tmp_path)
    return LocalFunctionsHost(
        load_function_app(tmp_path / "function_app.py"),
        HostSettings(**settings),
        environ={"AzureWebJobsStorage": storage},
    )


def _raw_app(tmp_path: Path, body: str) -> Any:
    """A hand-written function app with one queue trigger on aztest-default."""
    source = tmp_path / "function_app.py"
    source.write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "CALLS = []\n"
        '@app.queue_trigger(arg_name="msg", queue_name="aztest-default", '
        'connection="AzureWebJobsStorage")\n'
        "def handler(msg: func.QueueMessage) -> None:\n"
        f"    {body}\n"
    )
    return load_function_app(source)


@pytest.fixture(autouse=True)
def _fresh_entrypoint() -> Any:
    yield
    entrypoint.reset()


def test_a_function_that_returns_gets_its_message_deleted(
    tmp_path: Path, deployed: Deployed, storage: str
) -> None:
    host = _generated(tmp_path, storage)
    handle = apps.add.delay(1, 2)
    [default] = [f for f in host.queue_functions if f.name == "queue_default"]
    assert host.poll(default) == 1
    assert handle.result(timeout=1) == 3
    assert deployed.peek() == [] and host.stats.succeeded == {"queue_default": 1}
    host.close()


def test_a_function_that_raises_is_retried_then_poisoned_by_the_host(
    tmp_path: Path, deployed: Deployed, storage: str
) -> None:
    function_app = _raw_app(tmp_path, 'raise RuntimeError("storage is down")')
    settings = HostSettings(max_dequeue_count=3, visibility_timeout=0)
    host = LocalFunctionsHost(function_app, settings, environ={"AzureWebJobsStorage": storage})
    [handler] = host.queue_functions
    apps.add.delay(1, 2)
    counts = []
    for _ in range(3):
        [message] = host.receive(handler)
        counts.append(message.dequeue_count)
        host.process(handler, message)
    assert counts == [1, 2, 3]
    assert deployed.peek() == []
    [entry] = deployed.backend.dead_letters.entries()
    assert (entry.reason, entry.task) == (NO_REASON, apps.add.name)
    assert host.stats.poisoned == {"handler": 1} and host.stats.failed == {"handler": 3}


def test_the_host_waits_visibility_timeout_before_a_retry(
    tmp_path: Path, deployed: Deployed, storage: str
) -> None:
    function_app = _raw_app(tmp_path, 'raise RuntimeError("no")')
    settings = HostSettings(max_dequeue_count=5, visibility_timeout=30)
    host = LocalFunctionsHost(function_app, settings, environ={"AzureWebJobsStorage": storage})
    [handler] = host.queue_functions
    apps.add.delay(1, 2)
    assert host.poll(handler) == 1
    assert deployed.peek() == []  # hidden for host.json's visibilityTimeout
    assert deployed.backend.queue_stats(["default"])[0].depth == 1


def test_text_that_is_not_base64_is_poisoned_at_once(
    tmp_path: Path, deployed: Deployed, storage: str
) -> None:
    function_app = _raw_app(tmp_path, "CALLS.append(msg)")
    host = LocalFunctionsHost(function_app, environ={"AzureWebJobsStorage": storage})
    deployed.send_raw('{"raw": "json"}')
    [handler] = host.queue_functions
    assert host.poll(handler) == 1
    assert host.stats.succeeded == {} and host.stats.poisoned == {"handler": 1}
    [entry] = deployed.backend.dead_letters.entries()
    assert (entry.reason, entry.body) == (NOT_BASE64, b'{"raw": "json"}')
    assert deployed.peek() == []


def test_a_message_past_max_dequeue_count_is_poisoned_without_running(
    tmp_path: Path, deployed: Deployed, storage: str
) -> None:
    host = _generated(tmp_path, storage, max_dequeue_count=1)
    apps.add.delay(1, 2)
    queue = deployed.queue()
    [message] = queue.receive_messages(visibility_timeout=1)  # a delivery that died
    time.sleep(1.5)
    [default] = [f for f in host.queue_functions if f.name == "queue_default"]
    assert host.poll(default) == 1
    assert apps.CALLS == []
    [entry] = deployed.backend.dead_letters.entries()
    assert entry.reason == NO_REASON and message.dequeue_count == 1


def _serve(host: LocalFunctionsHost, until: Callable[[], bool], timeout: float = 30) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=host.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert until(), "the host did not get there in time"


def _counting(host: LocalFunctionsHost) -> Callable[[], int]:
    """Wrap the host's one queue function to count how many run at once; the most so far."""
    running = most = 0
    lock = threading.Lock()
    [handler] = host.queue_functions

    def counted(message: Any) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            handler.call(message)
        finally:
            with lock:
                running -= 1

    host.queue_functions[0] = replace(handler, call=counted)
    return lambda: most


@pytest.mark.slow
@pytest.mark.parametrize(("batch", "threshold"), [(2, 1), (1, 0)])
def test_batch_size_and_new_batch_threshold_bound_what_runs_at_once(
    tmp_path: Path, deployed: Deployed, storage: str, batch: int, threshold: int
) -> None:
    function_app = _raw_app(
        tmp_path,
        "import json, time; time.sleep(0.1 * (1 + json.loads(msg.get_body())['args'][0] % 3))",
    )
    settings = HostSettings(
        batch_size=batch, new_batch_threshold=threshold, max_polling_interval=0.2
    )
    host = LocalFunctionsHost(function_app, settings, environ={"AzureWebJobsStorage": storage})
    most = _counting(host)
    apps.add.map((i, i) for i in range(9))
    _serve(host, lambda: host.stats.succeeded.get("handler", 0) == 9)
    assert batch <= most() <= batch + threshold


@pytest.mark.slow
def test_a_running_message_stays_hidden_past_its_lease(
    tmp_path: Path, deployed: Deployed, storage: str
) -> None:
    function_app = _raw_app(tmp_path, "import time; time.sleep(2.5)")
    host = LocalFunctionsHost(
        function_app,
        HostSettings(max_polling_interval=0.2),
        environ={"AzureWebJobsStorage": storage},
        lease=1,
    )
    apps.add.delay(1, 2)
    [handler] = host.queue_functions
    [message] = host.receive(handler)
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(len(deployed.peek()))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    host.process(handler, message)  # 2.5 s, with a lease of 1 s renewed every 0.5 s
    done.set()
    watcher.join()
    assert len(seen) > 10 and set(seen) == {0}
    assert deployed.peek() == [] and host.stats.succeeded == {"handler": 1}


def test_timers_fire_on_their_schedule(tmp_path: Path, storage: str) -> None:
    host = _generated(tmp_path, storage)
    [timer] = host.timer_functions
    assert timer.schedule == "0 */5 * * * *"
    start = datetime(2026, 1, 1, 12, 4, 30, tzinfo=UTC)
    times = iter([start, start + timedelta(seconds=30.2), start + timedelta(seconds=31)])
    fired: list[bool] = []
    stop = threading.Event()

    def call(request: Any) -> None:
        fired.append(request.past_due)
        stop.set()

    host.serve_timer(TimerFunction(timer.name, timer.schedule, call), stop, lambda: next(times))
    assert fired == [False]


@pytest.mark.slow
def test_a_host_killed_mid_task_loses_nothing(
    tmp_path: Path, deployed: Deployed, storage: str
) -> None:
    marker = tmp_path / "started"
    handle = apps.slow_once.delay(str(marker))
    command = [sys.executable, "-m", "dispatcher.cli", "emulate", "azure", "tests.azure.apps:app"]
    command += ["--connection-string", storage, "--lease", "2", "--poll", "0.2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        first.kill()  # mid-task: the message was received, the claim taken, nothing settled
        first.wait(timeout=10)
    assert first.stderr is not None
    errors = first.stderr.read().decode()
    first.stderr.close()
    assert marker.exists(), f"the task never started: {errors}"
    second = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # the claim of the dead run lasts the task's timeout + 30 s; then it runs again
        assert handle.result(timeout=90) == "done"
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=30)
    assert deployed.peek("slow") == [] and deployed.peek("slow", poison=True) == []


@pytest.fixture
def served(tmp_path: Path, deployed: Deployed, storage: str) -> Iterator[LocalFunctionsHost]:
    """The test app's generated functions, served on Azurite by run() in a thread."""
    project.write(project.plan_for(apps.app, "tests.azure.apps:app"), tmp_path)
    served = LocalFunctionsHost(
        load_function_app(tmp_path / "function_app.py"),
        HostSettings(max_polling_interval=0.2),
        environ={"AzureWebJobsStorage": storage},
    )
    stop = threading.Event()
    thread = threading.Thread(target=served.run, args=(stop,))
    thread.start()
    yield served
    stop.set()
    thread.join(timeout=30)
    served.close()
    entrypoint.reset()


def _eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert check()


@pytest.mark.slow
def test_a_served_app_runs_what_is_sent(served: LocalFunctionsHost) -> None:
    assert apps.add.delay(2, 40).result(timeout=20) == 42
    assert [h.result(timeout=20) for h in apps.add.map((i, i) for i in range(5))] == [
        0,
        2,
        4,
        6,
        8,
    ]


@pytest.mark.slow
def test_bad_input_is_poisoned_at_once_with_its_reason(
    served: LocalFunctionsHost, deployed: Deployed
) -> None:
    unknown = apps.add.message((1, 2)).envelope.copy_with(task="nope.nothing")
    deployed.send_raw("plain text, not base64")
    deployed.send_raw(base64.b64encode(b'{"version":1}').decode())
    deployed.send_raw(base64.b64encode(unknown.encode()).decode())
    _eventually(lambda: len(deployed.backend.dead_letters.entries()) == 3)
    reasons = sorted(entry.reason for entry in deployed.backend.dead_letters.entries())
    assert reasons[0].startswith("invalid envelope: id: Field required")
    assert reasons[1].startswith("not base64")
    assert reasons[2] == "unknown task 'nope.nothing'"
    # one delivery each (none for the text the host could not decode): no retries burnt;
    # the host counts a delivery once the function returned, just after the dead letter (the
    # app's periodic task may run on the reports queue meanwhile: only the default queue counts)
    _eventually(lambda: served.stats.succeeded.get("queue_default", 0) >= 2)
    assert served.stats.succeeded["queue_default"] == 2 and served.stats.failed == {}
