"""Fixtures for the GCP backend: a fresh project on the session's emulators, with the test
app's queues and bucket, and its receiver served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from adapters.gcp import config as settings
from adapters.gcp.emulators import free_port
from adapters.gcp.entrypoint import build_service, create_app
from adapters.gcp.producer import GcpBackend
from adapters.gcp.provision import Provisioned, provision
from adapters.gcp.tokens import LocalIssuer
from dispatcher.naming import APP_ENV
from tests.conftest import GcsEmulator
from tests.gcp import apps

LOCATION = "us-central1"
ACCOUNT = "invoker@test-project.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Issuer:
    """The session's local token issuer and its files."""

    issuer: LocalIssuer
    key: Path
    certs: Path


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    """A signing key for the session, written where the producer and receiver read it."""
    made = LocalIssuer.generate()
    key, certs = made.write(tmp_path_factory.mktemp("issuer"))
    return Issuer(made, key, certs)


class Receiver:
    """uvicorn serving the receiver in a thread of this process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(build_service), host="127.0.0.1", port=port, log_level="error"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.01)
        self.build()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def build(self) -> None:
        """Make the receiver load the app now, as it starts: loading it puts the receiver's
        own backend on the app, closing the one in use, which must not happen while a test is
        calling it."""
        loaded(self.port)


def loaded(port: int, timeout: float = 30.0) -> None:
    """Wait until the receiver on ``port`` listens, and make it load the app (an
    unauthenticated push, refused). A task sent before would be pushed to a closed port by the
    emulator, which counts every refused push as a retry."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{settings.SCHEDULE_PATH}/warm-up", data=b"", method="POST"
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(request, timeout=timeout).close()
        except urllib.error.HTTPError as error:
            assert error.code == 401, error.code
            return
        except urllib.error.URLError:  # not listening yet
            assert time.monotonic() < deadline, f"no receiver on port {port}"
            time.sleep(0.05)


@dataclass
class Gcp:
    """The test app on the emulators: its backend and resources, and helpers."""

    backend: GcpBackend
    made: Provisioned
    receiver_url: str
    issuer: Issuer
    gcs: GcsEmulator

    def token(self, **changes: object) -> str:
        """A valid token for the receiver (``changes`` override its fields)."""
        fields: dict[str, object] = {"audience": self.receiver_url, "email": ACCOUNT, **changes}
        return self.issuer.issuer.sign(**fields)  # type: ignore[arg-type]

    def push(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        token: str | None = "valid",
        path: str = settings.PUSH_PATH,
    ) -> tuple[int, str]:
        """POST to the receiver as Cloud Tasks would; the status and the text."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {self.token() if token == 'valid' else token}"
        request = urllib.request.Request(
            self.receiver_url + path, data=body, headers=sent, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def tasks(self, queue: str = "default") -> list[object]:
        """The tasks waiting on ``queue``."""
        return list(self.backend._tasks(queue))

    def pause(self, queue: str = "default") -> None:
        """Hold ``queue``'s deliveries (the emulator keeps its tasks)."""
        self.backend.clients.tasks.pause_queue(name=self.backend.config.queue_path(queue))

    def resume(self, queue: str = "default") -> None:
        """Deliver ``queue``'s tasks again."""
        self.backend.clients.tasks.resume_queue(name=self.backend.config.queue_path(queue))


def wait_for(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    """Wait until ``predicate()`` is true (a failed assertion when it never is)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def environment(project: str, port: int, tasks: str, gcs: str, issuer: Issuer) -> dict[str, str]:
    """The environment of the test app on the emulators."""
    return {
        "DISPATCHER_BACKEND": f"gcp://{project}/{LOCATION}",
        settings.TASKS_EMULATOR_ENV: tasks,
        settings.STORAGE_EMULATOR_ENV: gcs,
        settings.SERVICE_URL_ENV: f"http://127.0.0.1:{port}",
        settings.SERVICE_ACCOUNT_ENV: ACCOUNT,
        settings.SIGNING_KEY_ENV: str(issuer.key),
        settings.CERTS_URL_ENV: issuer.certs.as_uri(),
        APP_ENV: "tests.gcp.apps:app",
    }


@pytest.fixture
def gcp_env(
    tasks_emulator_host: str, gcs: GcsEmulator, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A fresh project's environment (its own queues and bucket), set in ``os.environ``."""
    project = f"t-{uuid.uuid4().hex[:12]}"
    env = environment(project, free_port(), tasks_emulator_host, gcs.url, issuer)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(settings.BUCKET_ENV, raising=False)
    apps.CALLS.clear()
    return env


@pytest.fixture
def deployed(gcp_env: dict[str, str], issuer: Issuer, gcs: GcsEmulator) -> Iterator[Gcp]:
    """The test app deployed on the emulators, without a receiver (pushes fail and retry)."""
    apps.app.use(gcp_env["DISPATCHER_BACKEND"])
    backend = apps.app.backend
    assert isinstance(backend, GcpBackend)
    made = provision(backend)
    try:
        yield Gcp(backend, made, gcp_env[settings.SERVICE_URL_ENV], issuer, gcs)
    finally:
        apps.app.close()


@pytest.fixture
def gcp(deployed: Gcp) -> Iterator[Gcp]:
    """The test app on the emulators with its receiver served."""
    with Receiver(int(deployed.receiver_url.rsplit(":", 1)[1])):
        yield deployed


def body_of(value: object) -> bytes:
    """JSON bytes."""
    return json.dumps(value).encode()
