"""The AWS dead letters: listed, shown, replayed and purged by message id on moto; a replay
that is interrupted loses nothing; what a dead letter carries is always valid for SQS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapters.aws.dead_letters import ATTRIBUTE, MAX_ATTRIBUTES, Note, dead_letter_attributes
from adapters.aws.producer import AwsBackend
from dispatcher import BackendError, Cause, TaskHandle, UnknownDeadLetter
from tests.aws import apps
from tests.aws.conftest import Deployed

pytestmark = pytest.mark.emulator

#: The characters SQS accepts in message attribute values (and bodies).
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
SQS_TEXT = re.compile("^[\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*$")


def _dead(deployed: Deployed, *countries: str) -> list[str]:
    handles = [apps.refuse.delay(country) for country in countries]
    assert deployed.runtime().run_until(lambda: all(_final(h) for h in handles), 10)
    return [h.id for h in handles]


def _final(handle: TaskHandle[Any]) -> bool:
    record = handle.status()
    return record is not None and record.status.final


def test_listing_shows_each_dead_letter_and_gives_them_back(deployed: Deployed) -> None:
    first, second = _dead(deployed, "XX", "YY")
    letters = deployed.backend.dead_letters
    listed = letters.entries()
    assert {e.id for e in listed} == {first, second}
    shown = letters.show(first)
    assert shown.task == "tests.aws.apps.refuse" and shown.queue == "default"
    assert shown.reason == "non-retryable error on attempt 1: NonRetryable: we do not ship to 'XX'"
    assert (shown.cause, shown.attempt) == (Cause.NON_RETRYABLE, 1)
    assert shown.died_at is not None
    assert len(letters.entries()) == 2  # the listing gave them back at once
    with pytest.raises(UnknownDeadLetter, match="'nope'"):
        letters.show("nope")


def test_a_replay_runs_the_message_again_from_attempt_one(deployed: Deployed) -> None:
    [dead] = _dead(deployed, "XX")
    assert deployed.backend.results.get(dead) is not None
    [replayed] = deployed.backend.dead_letters.replay([dead])
    assert replayed.id == dead
    assert deployed.backend.dead_letters.entries() == []
    assert deployed.backend.results.get(dead) is None  # forgotten: it will run again
    assert deployed.runtime().run_until(lambda: len(apps.CALLS) == 2, 10)
    assert apps.CALLS == [("refuse", "XX"), ("refuse", "XX")]
    record = deployed.backend.results.get(dead)
    assert record is not None and record.attempt == 1


def test_an_unknown_id_replays_nothing(deployed: Deployed) -> None:
    [dead] = _dead(deployed, "XX")
    with pytest.raises(UnknownDeadLetter):
        deployed.backend.dead_letters.replay([dead, "nope"])
    assert [e.id for e in deployed.backend.dead_letters.entries()] == [dead]


class _FailingSecondSend:
    """The real SQS client, except that the second replay send fails (an interruption)."""

    def __init__(self, real: Any, queue_url: str) -> None:
        self.real, self.queue_url, self.sends = real, queue_url, 0

    def send_message(self, **params: Any) -> Any:
        if params["QueueUrl"] == self.queue_url:
            self.sends += 1
            if self.sends == 2:
                raise ConnectionError("interrupted")
        return self.real.send_message(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_an_interrupted_replay_loses_nothing(deployed: Deployed) -> None:
    ids = set(_dead(deployed, "AA", "BB", "CC"))
    backend = deployed.backend
    clients = backend.clients
    real = clients.sqs
    clients._clients["sqs"] = _FailingSecondSend(real, deployed.url("default"))
    try:
        with pytest.raises((ConnectionError, BackendError)):
            backend.dead_letters.replay(None)
    finally:
        clients._clients["sqs"] = real
    on_queue = {r["body"] for r in deployed.receive("default")}
    still_dead = {e.id for e in backend.dead_letters.entries()}
    back = {i for i in ids if any(i in body for body in on_queue)}
    assert len(back) == 1 and len(still_dead) == 2 and back | still_dead == ids
    assert {e.id for e in backend.dead_letters.replay(None)} == still_dead  # and it resumes


def test_purge_deletes_only_the_chosen(deployed: Deployed) -> None:
    first, second = _dead(deployed, "XX", "YY")
    assert deployed.backend.dead_letters.purge([first]) == 1
    assert [e.id for e in deployed.backend.dead_letters.entries()] == [second]


def test_queue_counts(deployed: Deployed) -> None:
    _dead(deployed, "XX")
    apps.add.delay(1, 2)
    apps.add.send(args=(1, 2), countdown=60)
    backend = deployed.backend
    assert isinstance(backend, AwsBackend)
    [stat] = backend.queue_stats(["default"])
    assert (stat.depth, stat.in_flight, stat.delayed, stat.dead_letters) == (1, 0, 1, 1)


def test_dead_letters_of_an_ordered_queue_are_all_listed(deployed: Deployed) -> None:
    for n in range(12):  # more than one receive's worth, all in one ordering group
        deployed.send_raw(
            "ordered", f"not json {n}", MessageGroupId="g", MessageDeduplicationId=str(n)
        )
    assert deployed.runtime().run_until(
        lambda: len(deployed.backend.dead_letters.entries(["ordered"])) == 12, 15
    )


@pytest.mark.parametrize(
    "reason",
    ["x\x00y", "tab\there", "\ud800 lone surrogate", "emoji 🎉 and \uffff", "a" * 10_000],
)
def test_the_dead_letter_note_is_always_valid_sqs_text(reason: str) -> None:
    note = Note(reason=reason, cause="failed", attempt=3, queue="q", at=1.5)
    encoded = note.encode()
    assert SQS_TEXT.match(encoded) and encoded.isascii()
    decoded = Note.decode(encoded)
    assert decoded is not None and decoded.attempt == 3


def test_a_dead_letter_never_carries_more_than_ten_attributes() -> None:
    own = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(10)}
    own["claim_check"] = {"DataType": "String", "StringValue": "s3://b/k"}
    note = Note(reason="r", cause=None, attempt=None, queue="q", at=0.0)
    chosen = dead_letter_attributes(own, note)
    assert len(chosen) == MAX_ATTRIBUTES
    assert "claim_check" in chosen and ATTRIBUTE in chosen
