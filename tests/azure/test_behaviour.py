"""What every backend does, on Azure: the generated function app served by the local host on
Azurite, driven only through the app's public API and the dead-letter operations."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.azure import entrypoint, project
from adapters.azure.host import HostSettings, LocalFunctionsHost, load_function_app
from dispatcher.backend import Cause
from dispatcher.errors import TaskFailed
from tests.azure import apps
from tests.azure.conftest import Deployed

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


@pytest.fixture
def host(tmp_path: Path, deployed: Deployed, storage: str) -> Iterator[LocalFunctionsHost]:
    """The test app's generated functions, served on Azurite in a background thread."""
    project.write(apps.app, "tests.azure.apps:app", tmp_path)
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


def test_send_run_result(host: LocalFunctionsHost) -> None:
    assert apps.add.delay(2, 40).result(timeout=20) == 42
    assert [h.result(timeout=20) for h in apps.add.map((i, i) for i in range(5))] == [
        0,
        2,
        4,
        6,
        8,
    ]


def test_retry_with_backoff(host: LocalFunctionsHost) -> None:
    started = time.monotonic()
    assert apps.hiccup.delay("k").result(timeout=20) == "k"
    assert time.monotonic() - started >= 1.0  # the backoff was waited
    assert apps.CALLS.count(("hiccup", "k")) == 2


def test_dead_letter_with_reason_then_replay(host: LocalFunctionsHost, deployed: Deployed) -> None:
    handle = apps.refuse.delay("mars")
    with pytest.raises(TaskFailed, match="we do not ship to 'mars'"):
        handle.result(timeout=20)
    _eventually(
        lambda: [e.cause for e in deployed.backend.dead_letters.entries()] == [Cause.NON_RETRYABLE]
    )
    [entry] = deployed.backend.dead_letters.entries()
    assert entry.id == handle.id
    deployed.backend.dead_letters.replay()
    _eventually(lambda: apps.CALLS.count(("refuse", "mars")) == 2)
    _eventually(lambda: len(deployed.backend.dead_letters.entries()) == 1)


def test_idempotent_redelivery(host: LocalFunctionsHost, deployed: Deployed) -> None:
    message = apps.add.message((1, 2))
    text = base64.b64encode(message.body).decode()
    deployed.send_raw(text)
    deployed.send_raw(text)  # delivered twice, as at-least-once queues may
    assert apps.app.handle(message.envelope.id).result(timeout=20) == 3
    _eventually(lambda: host.stats.succeeded.get("queue_default", 0) == 2)
    assert apps.CALLS == [("add", (1, 2))]


def test_claim_check(host: LocalFunctionsHost) -> None:
    assert apps.size_of.delay("z" * 200 * 1024).result(timeout=20) == 200 * 1024


def test_bad_input_is_poisoned_at_once_with_its_reason(
    host: LocalFunctionsHost, deployed: Deployed
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
    # one delivery each (none for the text the host could not decode): no retries burnt
    assert host.stats.succeeded == {"queue_default": 2} and host.stats.failed == {}
