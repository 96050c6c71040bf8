"""Dead letters in GCS through the same operations as every backend: list, show, replay (a
fresh attempt count, a forgotten result, the letter removed once sent) and purge."""

from __future__ import annotations

import pytest

from dispatcher.errors import UnknownDeadLetter
from tests.gcp import apps
from tests.gcp.conftest import Gcp, wait_for

pytestmark = pytest.mark.emulator


def test_list_show_replay_and_purge(gcp: Gcp) -> None:
    letters = gcp.backend.dead_letters
    refused = apps.refuse.delay("XX")
    broken = apps.always_fails.delay("y")
    wait_for(lambda: len(letters.entries()) == 2)
    assert {e.id for e in letters.entries()} == {refused.id, broken.id}
    shown = letters.show(refused.id)
    assert shown.task == apps.refuse.name and shown.queue == "default"
    with pytest.raises(UnknownDeadLetter):
        letters.show("nope")
    with pytest.raises(UnknownDeadLetter):
        letters.replay([refused.id, "nope"])
    assert len(letters.entries()) == 2  # nothing was replayed

    apps.CALLS.clear()
    [replayed] = letters.replay([broken.id])
    assert replayed.id == broken.id
    # It runs again from attempt 1 (two more attempts), then dies again.
    wait_for(lambda: apps.CALLS.count(("always_fails", "y")) == 2)
    wait_for(lambda: broken.id in {e.id for e in letters.entries()})
    assert letters.show(broken.id).attempt == 2

    assert letters.purge([refused.id]) == 1
    assert [e.id for e in letters.entries()] == [broken.id]
    assert letters.purge() == 1 and letters.entries() == []


def test_a_malformed_dead_letter_is_kept_as_received(gcp: Gcp) -> None:
    status, _ = gcp.push(b"\xff\xfe not utf-8", {"X-CloudTasks-QueueName": "gcptest-default"})
    assert status == 200
    [dead] = gcp.backend.dead_letters.entries()
    assert dead.body == b"\xff\xfe not utf-8" and dead.task is None


def test_the_cli_lists_them(gcp: Gcp) -> None:
    from typer.testing import CliRunner

    from dispatcher.cli import cli

    handle = apps.refuse.delay("ZZ")
    wait_for(lambda: gcp.backend.dead_letters.entries() != [])
    listed = CliRunner().invoke(cli, ["dlq", "list", "tests.gcp.apps:app"], env={"COLUMNS": "300"})
    assert listed.exit_code == 0, listed.output
    assert handle.id in listed.output and "we do not ship to" in listed.output
