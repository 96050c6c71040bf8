"""The harness fixture: every behaviour test runs on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.conftest import aws
from tests.azure.conftest import storage
from tests.behaviour import apps
from tests.behaviour.harnesses import (
    AwsHarness,
    AzureHarness,
    GcpHarness,
    Harness,
    LocalHarness,
    MemoryHarness,
    closing,
)
from tests.gcp.conftest import gcp_env, issuer

__all__ = ["aws", "gcp_env", "harness", "issuer", "storage"]


@pytest.fixture(
    params=[
        "memory",
        "local",
        pytest.param("aws", marks=pytest.mark.emulator),
        pytest.param("gcp", marks=pytest.mark.emulator),
        pytest.param("azure", marks=pytest.mark.emulator),
    ]
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    apps.RUNS.clear()
    with closing():
        if request.param == "memory":
            yield MemoryHarness()
        elif request.param == "local":
            yield LocalHarness(tmp_path / "behave.sqlite3")
        elif request.param == "aws":
            request.getfixturevalue("aws")
            yield AwsHarness()
        elif request.param == "gcp":
            yield from _gcp(request)
        else:
            azure = AzureHarness(request.getfixturevalue("storage"), tmp_path / "functions")
            try:
                yield azure
            finally:
                azure.close()


def _gcp(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A fresh project on the session's emulators, the behaviour app's receiver served."""
    from dispatcher.naming import APP_ENV

    env: dict[str, str] = request.getfixturevalue("gcp_env")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv(APP_ENV, "tests.behaviour.apps:app")
    with GcpHarness(env["DISPATCHER_BACKEND"], env["DISPATCHER_GCP_SERVICE_URL"]) as harness:
        yield harness
