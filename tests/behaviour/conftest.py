"""The harness fixture: every behaviour test runs on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.conftest import aws
from tests.behaviour import apps
from tests.behaviour.harnesses import AwsHarness, Harness, LocalHarness, MemoryHarness, closing

__all__ = ["aws", "harness"]


@pytest.fixture(
    params=[
        "memory",
        "local",
        pytest.param("aws", marks=pytest.mark.emulator),
    ]
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    apps.RUNS.clear()
    with closing():
        if request.param == "memory":
            yield MemoryHarness()
        elif request.param == "local":
            yield LocalHarness(tmp_path / "behave.sqlite3")
        else:
            request.getfixturevalue("aws")
            yield AwsHarness()
