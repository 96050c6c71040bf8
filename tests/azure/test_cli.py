"""Operations from the command line on Azure (Azurite): revoke, purge and results (the dead
letters and queue counts run in the shared tests of every backend,
``tests/operations/test_cli.py``)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dispatcher.cli import cli
from tests.azure import apps
from tests.azure.conftest import Deployed

pytestmark = pytest.mark.emulator
APP = "tests.azure.apps:app"
runner = CliRunner()


def _run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(cli, [*args, "-b", "azure"], input=input, env={"COLUMNS": "80"})
    return result.exit_code, result.output


def _drain(deployed: Deployed) -> None:
    for message in deployed.receive():
        deployed.run(message)


def test_revoke_purge_and_result_from_the_command_line(deployed: Deployed) -> None:
    handle = apps.add.delay(1, 2)
    other = apps.add.delay(3, 4)
    code, out = _run("revoke", APP, handle.id)
    assert code == 0, out
    _drain(deployed)
    assert apps.CALLS == [("add", (3, 4))]  # the revoked one was acknowledged, not run
    code, out = _run("result", APP, other.id)
    assert code == 0 and "succeeded" in out and "7" in out, out
    code, out = _run("result", APP, handle.id)
    assert code != 0 and "revoked" in out, out
    apps.add.delay(5, 6)
    code, out = _run("purge", APP, "default", "--yes")
    assert code == 0, out
    assert deployed.peek() == []
