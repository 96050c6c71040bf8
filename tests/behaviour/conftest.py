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
    Harness,
    LocalHarness,
    MemoryHarness,
    closing,
)

__all__ = ["aws", "harness", "storage"]


@pytest.fixture(
    params=[
        "memory",
        "local",
        pytest.param("aws", marks=pytest.mark.emulator),
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
        else:
            azure = AzureHarness(request.getfixturevalue("storage"), tmp_path / "functions")
            try:
                yield azure
            finally:
                azure.close()
