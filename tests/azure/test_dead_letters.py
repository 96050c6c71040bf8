"""Dead letters on the poison queues: list, show, replay and purge, with the reasons our
runtime recorded and what can be said of the messages the Functions host moved itself."""

from __future__ import annotations

import base64

import pytest

from adapters.azure.dead_letters import NO_REASON, NOT_BASE64
from adapters.azure.encoding import decode
from adapters.azure.payloads import Pointer
from dispatcher.backend import Cause, Status
from dispatcher.envelope import decode as decode_envelope
from dispatcher.errors import UnknownDeadLetter
from tests.azure import apps
from tests.azure.conftest import Deployed

pytestmark = pytest.mark.emulator


def _poison(deployed: Deployed, *texts: str) -> None:
    """Run raw message texts through the runtime (each ends in the poison queue)."""
    for text in texts:
        deployed.send_raw(text)
    for message in deployed.receive():
        deployed.run(message)


def _dead(deployed: Deployed) -> str:
    handle = apps.refuse.delay("mars")
    [message] = deployed.receive()
    deployed.run(message)
    return handle.id


def test_entries_show_the_recorded_reasons_oldest_first(deployed: Deployed) -> None:
    task_id = _dead(deployed)
    _poison(deployed, base64.b64encode(b"{oops").decode())
    first, second = deployed.backend.dead_letters.entries()
    assert (first.id, first.queue, first.task, first.cause) == (
        task_id,
        "default",
        apps.refuse.name,
        Cause.NON_RETRYABLE,
    )
    assert first.attempt == 1 and first.died_at is not None
    assert decode_envelope(first.body).id == task_id
    assert second.cause is Cause.MALFORMED and second.reason == "message body is not JSON"
    assert second.body == b"{oops" and second.task is None
    assert deployed.backend.dead_letters.entries(["reports"]) == []
    assert len(deployed.peek(poison=True)) == 2  # listing leaves them visible


def test_messages_the_host_moved_are_explained(deployed: Deployed) -> None:
    poison = deployed.queue(poison=True)
    poison.send_message("not base64 at all!")
    handle = apps.add.message((1, 2))
    poison.send_message(base64.b64encode(handle.body).decode())  # after maxDequeueCount
    undecodable, moved = deployed.backend.dead_letters.entries()
    assert (undecodable.reason, undecodable.cause) == (NOT_BASE64, Cause.MALFORMED)
    assert undecodable.body == b"not base64 at all!"
    assert (moved.id, moved.reason, moved.cause) == (handle.envelope.id, NO_REASON, None)


def test_show_finds_one_by_envelope_or_message_id(deployed: Deployed) -> None:
    task_id = _dead(deployed)
    assert deployed.backend.dead_letters.show(task_id).task == apps.refuse.name
    [message] = deployed.peek(poison=True)
    assert deployed.backend.dead_letters.show(message.id).id == task_id
    with pytest.raises(UnknownDeadLetter):
        deployed.backend.dead_letters.show("nope")


def test_replay_sends_envelopes_back_afresh(deployed: Deployed) -> None:
    handle = apps.always_fails.delay("k")
    [message] = deployed.receive()
    deployed.run(message)  # attempt 1 fails: sent again as attempt 2
    [message] = [m for m in deployed.queue().receive_messages(visibility_timeout=60)]
    deployed.run(message)  # attempt 2: the poison queue
    record = deployed.backend.results.get(handle.id)
    assert record is not None and record.status is Status.FAILED
    [entry] = deployed.backend.dead_letters.replay([handle.id])
    assert entry.attempt == 2
    assert deployed.peek(poison=True) == []
    assert deployed.backend.results.get(handle.id) is None  # forgotten: it runs afresh
    [back] = deployed.peek()
    envelope = decode_envelope(decode(back.content))
    assert (envelope.id, envelope.attempt) == (handle.id, 1)
    assert deployed.backend.dead_letters.entries() == []


def test_replay_restores_any_other_body_exactly(deployed: Deployed) -> None:
    texts = [base64.b64encode(b"{oops").decode(), "not base64!"]
    _poison(deployed, texts[0])
    deployed.queue(poison=True).send_message(texts[1])
    assert len(deployed.backend.dead_letters.replay()) == 2
    assert sorted(m.content for m in deployed.peek()) == sorted(texts)


def test_an_unknown_id_replays_nothing(deployed: Deployed) -> None:
    task_id = _dead(deployed)
    with pytest.raises(UnknownDeadLetter):
        deployed.backend.dead_letters.replay([task_id, "nope"])
    assert len(deployed.peek(poison=True)) == 1 and deployed.peek() == []


def test_replay_of_a_claim_checked_body(deployed: Deployed) -> None:
    handle = apps.refuse.delay("x" * 100_000)
    [message] = deployed.receive()
    deployed.run(message)
    container = deployed.backend.clients.container(deployed.made.container)
    [old] = [b.name for b in container.list_blobs()]
    [entry] = deployed.backend.dead_letters.entries()
    assert entry.id == handle.id and len(entry.body) > 100_000
    deployed.backend.dead_letters.replay()
    [new] = [b.name for b in container.list_blobs()]
    assert new != old
    [back] = deployed.receive()
    pointer = Pointer.parse(decode(back.content), deployed.made.container)
    assert pointer.name == new
    envelope = decode_envelope(deployed.backend.claim_checks.get(pointer))
    assert (envelope.id, envelope.attempt, envelope.args) == (handle.id, 1, ["x" * 100_000])


def test_purge_deletes_chosen_or_all(deployed: Deployed) -> None:
    task_id = _dead(deployed)
    _poison(deployed, base64.b64encode(b"{oops").decode(), base64.b64encode(b"[1]").decode())
    assert deployed.backend.dead_letters.purge([task_id]) == 1
    assert len(deployed.backend.dead_letters.entries()) == 2
    with pytest.raises(UnknownDeadLetter):
        deployed.backend.dead_letters.purge(["nope"])
    assert deployed.backend.dead_letters.purge() == 2
    assert deployed.backend.dead_letters.entries() == []
    partition = deployed.backend.entities.partition("poison-aztest-default-poison")
    assert partition == []  # the reasons went with them
