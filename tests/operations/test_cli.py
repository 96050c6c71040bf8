"""``dispatcher dlq list|show|replay|purge`` and ``dispatcher queues``, run as a user runs
them, on the local backend, on AWS (moto server), on GCP (the Cloud Tasks and GCS emulators)
and on Azure (Azurite): the same commands, the same answers (Azure counts no in-flight or
delayed messages apart: ``?``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.local.worker import Worker
from dispatcher.cli import cli
from tests.aws import apps

APP = "tests.aws.apps:app"
runner = CliRunner()


@dataclass
class Backend:
    """A backend spec, how to run what was sent until nothing is left to run, and whether it
    counts in-flight and delayed messages apart."""

    spec: str
    drain: Callable[[], None]
    counts_apart: bool = True

    def row(self, ready: int, dead: int) -> list[str]:
        """The last four cells of ``dispatcher queues``' row for a queue at rest."""
        unknown = "0" if self.counts_apart else "?"
        return [str(ready), unknown, unknown, str(dead)]


@pytest.fixture(
    params=[
        "local",
        pytest.param("aws", marks=pytest.mark.emulator),
        pytest.param("gcp", marks=pytest.mark.emulator),
        pytest.param("azure", marks=pytest.mark.emulator),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    apps.CALLS.clear()
    if request.param == "azure":
        yield from _azure(request)
    elif request.param == "local":
        spec = f"local:{tmp_path / 'ops.sqlite3'}"
        apps.app.use(spec)

        def work() -> None:
            Worker(apps.app).run(burst=True)

        yield Backend(spec, work)
    elif request.param == "gcp":
        yield from _gcp(request)
    else:
        from tests.aws.conftest import deploy

        request.getfixturevalue("aws")  # a clean moto in AWS_ENDPOINT_URL
        deployed = deploy(visibility=1)
        runtime = deployed.runtime()

        def drain() -> None:
            runtime.run_until(lambda: deployed.counts("default")["visible"] == 0, 10)

        yield Backend("aws://us-east-1", drain)
    apps.app.close()


def _gcp(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The app's queues on the Cloud Tasks emulator, paused but while draining, so that a
    replayed message waits in its queue as it does on the other backends."""
    from adapters.gcp.producer import GcpBackend
    from adapters.gcp.provision import provision
    from dispatcher.naming import APP_ENV
    from tests.gcp.conftest import Receiver

    env: dict[str, str] = request.getfixturevalue("gcp_env")
    request.getfixturevalue("monkeypatch").setenv(APP_ENV, APP)
    apps.app.use(env["DISPATCHER_BACKEND"])
    backend = apps.app.backend
    assert isinstance(backend, GcpBackend)
    provision(backend, reference=APP)
    path = backend.config.queue_path("default")
    backend.clients.tasks.pause_queue(name=path)
    with Receiver(int(env["DISPATCHER_GCP_SERVICE_URL"].rsplit(":", 1)[1])) as receiver:
        backend = apps.app.backend  # the receiver's, now on the app
        assert isinstance(backend, GcpBackend)

        def drain() -> None:
            backend.clients.tasks.resume_queue(name=path)
            deadline = time.monotonic() + 20
            # The emulator takes a task off its list before pushing it: wait for both.
            while backend._tasks("default") or receiver.server.server_state.tasks:
                assert time.monotonic() < deadline, "the queue did not drain"
                time.sleep(0.05)
            backend.clients.tasks.pause_queue(name=path)

        yield Backend(env["DISPATCHER_BACKEND"], drain)


def _azure(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The app's queues on Azurite, drained by its receiver as the generated function would
    (the host deletes a message when the function returns)."""
    from adapters.azure.encoding import decode
    from adapters.azure.producer import AzureBackend
    from adapters.azure.provision import provision
    from adapters.azure.receiver import QueueReceiver

    request.getfixturevalue("storage")  # an empty Azurite in AZURE_STORAGE_CONNECTION_STRING
    apps.app.use("azure")
    assert isinstance(apps.app.backend, AzureBackend)
    provision(apps.app.backend)

    def drain() -> None:
        backend = apps.app.backend  # the commands may have closed and replaced it
        assert isinstance(backend, AzureBackend)
        receiver = QueueReceiver(apps.app, backend)
        client = backend.clients.queue(backend.queue_name("default"))
        while messages := list(client.receive_messages(messages_per_page=32)):
            for message in messages:
                receiver.handle(
                    "default",
                    decode(message.content),
                    dequeue_count=message.dequeue_count or 1,
                    message_id=message.id,
                )
                client.delete_message(message)

    yield Backend("azure", drain, counts_apart=False)


def _run(*args: str, backend: Backend, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(cli, [*args, "-b", backend.spec], input=input, env={"COLUMNS": "80"})
    return result.exit_code, result.output


def test_dead_letters_and_queues_from_the_command_line(backend: Backend) -> None:
    first, second = apps.refuse.delay("XX"), apps.refuse.delay("YY")
    backend.drain()

    code, out = _run("dlq", "list", APP, backend=backend)
    assert code == 0, out
    assert "2 dead-lettered" in out
    assert first.id in out and second.id in out  # whole ids, even on 80 columns

    code, out = _run("dlq", "show", APP, first.id, backend=backend)
    assert code == 0, out
    assert "reason:  non-retryable error on attempt 1: NonRetryable: we do not ship to 'XX'" in out
    assert "cause:   non_retryable" in out and '"task": "tests.aws.apps.refuse"' in out

    code, out = _run("queues", APP, "-q", "default", backend=backend)
    assert code == 0, out
    [row] = [line for line in out.splitlines() if "default" in line]
    assert row.replace("│", " ").split()[-4:] == backend.row(ready=0, dead=2)

    code, out = _run("dlq", "replay", APP, "nope", backend=backend)
    assert code == 2 and "no dead letter with id 'nope'" in out
    code, out = _run("dlq", "replay", APP, backend=backend)
    assert code == 2 and "give the ids to replay" in out

    code, out = _run("dlq", "replay", APP, first.id, backend=backend)
    assert code == 0 and "replayed 1 message(s)" in out, out
    code, out = _run("queues", APP, "-q", "default", backend=backend)
    [row] = [line for line in out.splitlines() if "default" in line]
    assert row.replace("│", " ").split()[-4:] == backend.row(ready=1, dead=1)

    code, out = _run("dlq", "purge", APP, second.id, backend=backend, input="n\n")
    assert code == 1 and "Aborted" in out
    code, out = _run("dlq", "purge", APP, second.id, "--yes", backend=backend)
    assert code == 0 and "purged 1 dead letter(s)" in out, out
    code, out = _run("dlq", "list", APP, backend=backend)
    assert "0 dead-lettered" in out


def test_revoke_and_purge_from_the_command_line(backend: Backend) -> None:
    revoked = apps.add.delay(1, 2)
    code, out = _run("revoke", APP, revoked.id, backend=backend)
    assert (code, out) == (0, f"revoked {revoked.id}\n")
    backend.drain()
    assert ("add", (1, 2)) not in apps.CALLS
    code, out = _run("result", APP, revoked.id, backend=backend)
    assert code == 1 and f"{revoked.id} revoked:" in out
    code, out = _run("revoke", APP, revoked.id, backend=backend)
    assert (code, out) == (
        2,
        f"error: {revoked.id} already finished (revoked); nothing to revoke\n",
    )

    apps.add.delay(3, 4)
    apps.add.delay(5, 6)
    code, out = _run("purge", APP, "default", backend=backend, input="n\n")
    assert code == 1 and "Aborted" in out
    code, out = _run("purge", APP, "default", "--yes", backend=backend)
    assert code == 0 and out.startswith("purged default"), out
    backend.drain()
    assert apps.CALLS == []
    code, out = _run("purge", APP, "nope", "--yes", backend=backend)
    assert code == 2 and "has no queue 'nope'" in out
