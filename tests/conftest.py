"""Shared fixtures: emulator servers (session-scoped) and fresh apps."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.servers import azurite_server, cloud_tasks_emulator, gcs_emulator, moto_server

# Property-based tests: "ci" (the default) is derandomized and bounded to a few seconds;
# "fuzz" (`make fuzz`) runs the same properties far longer, keeping failures in .hypothesis/.
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_DATA,
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_DATA,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server for the whole session, with dummy credentials in the environment."""
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        with moto_server() as endpoint:
            yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    """The moto endpoint, reset to an empty state for this test."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_endpoint


@pytest.fixture(scope="session")
def tasks_emulator_host() -> Iterator[str]:
    """The Cloud Tasks emulator for the whole session (``host:port``)."""
    with cloud_tasks_emulator() as host:
        yield host


@dataclass(frozen=True)
class GcsEmulator:
    """The GCS emulator: its URL, and the request lines it logged (method, path and query)."""

    url: str
    log: Path

    def requests(self) -> list[str]:
        """Every request line logged so far, like ``POST /upload/...?...&ifGenerationMatch=0``."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line.split('"')[1] for line in lines if line.startswith('"')]


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """The GCS emulator for the whole session."""
    log = tmp_path_factory.mktemp("gcs") / "requests.log"
    with gcs_emulator(log) as url:
        yield GcsEmulator(url, log)


@pytest.fixture(scope="session")
def azurite_connection() -> Iterator[str]:
    """Azurite for the whole session: its development account's connection string."""
    with azurite_server() as connection:
        yield connection
