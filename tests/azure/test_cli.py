"""The operations every backend offers, from the command line, on Azure (Azurite): dead letters
on the poison queues, queue counts, revoke, purge and results."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from adapters.azure.encoding import decode
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


def test_dead_letters_from_the_command_line(deployed: Deployed) -> None:
    first, second = apps.refuse.delay("XX"), apps.refuse.delay("YY")
    _drain(deployed)

    code, out = _run("dlq", "list", APP)
    assert code == 0, out
    assert "2 dead-lettered" in out and first.id in out and second.id in out

    code, out = _run("dlq", "show", APP, first.id)
    assert code == 0, out
    assert "reason:  non-retryable error on attempt 1: NonRetryable: we do not ship to 'XX'" in out
    assert "cause:   non_retryable" in out and '"task": "tests.azure.apps.refuse"' in out

    code, out = _run("queues", APP, "-q", "default")
    assert code == 0, out
    [row] = [line for line in out.splitlines() if "default" in line]
    assert row.replace("│", " ").split()[-4:] == [
        "0",
        "?",
        "?",
        "2",
    ]  # Azure counts no in-flight or delayed apart

    code, out = _run("dlq", "replay", APP, "nope")
    assert code == 2 and "no dead letter with id 'nope'" in out
    code, out = _run("dlq", "replay", APP, first.id)
    assert code == 0 and "replayed 1 message(s)" in out, out
    [back] = deployed.peek()
    assert decode(back.content).find(first.id.encode()) > 0

    code, out = _run("dlq", "purge", APP, second.id, "--yes")
    assert code == 0 and "purged 1 dead letter(s)" in out, out
    code, out = _run("dlq", "list", APP)
    assert "0 dead-lettered" in out


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
