"""The runtime on Azurite: outcomes applied by their cause (backoff by re-sending with a
visibility delay, hops, the poison queue with the reason), idempotent redelivery, claim checks,
and bad input poisoned at once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from adapters.azure.encoding import decode
from adapters.azure.payloads import Pointer
from dispatcher.backend import Ack, Cause, DeadLetter, RetryLater, Status
from dispatcher.envelope import decode as decode_envelope
from tests.azure import apps
from tests.azure.conftest import Deployed

pytestmark = pytest.mark.emulator


def test_a_task_runs_and_its_result_is_recorded(deployed: Deployed) -> None:
    handle = apps.add.delay(2, 40)
    [message] = deployed.receive()
    assert isinstance(deployed.run(message), Ack)
    assert handle.result(timeout=1) == 42
    assert deployed.peek() == [] and deployed.peek(poison=True) == []


def test_backoff_shows_as_growing_delays(deployed: Deployed) -> None:
    apps.backs_off.delay("k")  # fails always: 10 s, 30 s, 90 s, then the poison queue
    recording = deployed.record()
    [message] = deployed.receive()
    for _ in range(3):
        outcome = deployed.run(message)
        assert isinstance(outcome, RetryLater) and outcome.cause is Cause.FAILED
        assert deployed.peek() == []  # hidden by Azure for the backoff
        recording.show(recording.sent[-1])
        [message] = deployed.receive()
    assert [round(sent.hidden_for) for sent in recording.sent] == [10, 30, 90]
    attempts = [decode_envelope(decode(sent.text)).attempt for sent in recording.sent]
    assert attempts == [2, 3, 4]
    outcome = deployed.run(message)
    assert isinstance(outcome, DeadLetter) and outcome.cause is Cause.EXHAUSTED
    [entry] = deployed.backend.dead_letters.entries()
    assert entry.reason == "failed 4 of 4 attempts: TimeoutError: upstream slow for k"
    assert (entry.attempt, entry.cause, entry.task) == (4, Cause.EXHAUSTED, apps.backs_off.name)
    assert apps.CALLS == [("backs_off", "k")] * 4


def test_a_non_retryable_error_goes_to_the_poison_queue_at_once(deployed: Deployed) -> None:
    apps.refuse.delay("mars")
    [message] = deployed.receive()
    outcome = deployed.run(message)
    assert isinstance(outcome, DeadLetter) and outcome.cause is Cause.NON_RETRYABLE
    [poisoned] = deployed.peek(poison=True)
    assert poisoned.content == message.content  # exactly the message, as the host moves it
    [entry] = deployed.backend.dead_letters.entries()
    assert "we do not ship to 'mars'" in entry.reason and entry.cause is Cause.NON_RETRYABLE
    assert deployed.peek() == []


def test_redelivery_runs_a_task_once(deployed: Deployed) -> None:
    handle = apps.add.delay(1, 2)
    [message] = deployed.receive()
    receiver = deployed.receiver()
    body = decode(message.content)
    assert isinstance(receiver.handle("default", body, dequeue_count=1), Ack)
    assert isinstance(receiver.handle("default", body, dequeue_count=2), Ack)  # redelivered
    assert apps.CALLS == [("add", (1, 2))]
    assert handle.result(timeout=1) == 3


def test_a_busy_claim_sends_the_message_again_counting_dead_deliveries(
    deployed: Deployed,
) -> None:
    handle = apps.add.delay(1, 2)
    recording = deployed.record()
    [message] = deployed.receive()
    deployed.backend.results.claim(handle.id, apps.add.name, 1, lease=60)  # a live run elsewhere
    outcome = deployed.receiver().handle("default", decode(message.content), dequeue_count=2)
    assert isinstance(outcome, RetryLater) and outcome.cause is Cause.BUSY
    [sent] = recording.sent
    assert round(sent.hidden_for) == 5
    again = decode_envelope(decode(sent.text))
    assert (again.id, again.attempt) == (handle.id, 2)  # the dead first delivery counts
    assert apps.CALLS == []


def test_a_message_not_yet_due_hops(deployed: Deployed) -> None:
    envelope = apps.add.message((1, 2)).envelope.copy_with(
        eta=datetime.now(UTC) + timedelta(days=9)
    )
    text = base64.b64encode(envelope.encode()).decode()
    deployed.send_raw(text)
    recording = deployed.record()
    [message] = deployed.receive()
    outcome = deployed.run(message)
    assert isinstance(outcome, RetryLater) and outcome.cause is Cause.NOT_DUE
    [sent] = recording.sent
    assert sent.text == text  # the same message, hidden for at most 7 days
    assert round(sent.hidden_for) == 7 * 86_400
    assert apps.CALLS == []


@pytest.mark.parametrize(
    ("text", "reason", "cause"),
    [
        (base64.b64encode(b"not json").decode(), "message body is not JSON", Cause.MALFORMED),
        (
            base64.b64encode(b'{"version":9,"id":"x","task":"t"}').decode(),
            "unsupported envelope version 9",
            Cause.MALFORMED,
        ),
        (None, "unknown task 'nope.nothing'", Cause.UNKNOWN_TASK),
        (
            base64.b64encode(b'{"claim_check":"someone-else/secrets.json"}').decode(),
            "not in the app's container",
            Cause.PAYLOAD,
        ),
        (
            base64.b64encode(b'{"claim_check":"aztest-claim-checks/gone.json"}').decode(),
            "is missing",
            Cause.PAYLOAD,
        ),
    ],
)
def test_bad_input_goes_to_the_poison_queue_at_once_with_its_reason(
    deployed: Deployed, text: str | None, reason: str, cause: Cause
) -> None:
    if text is None:
        envelope = apps.add.message((1, 2)).envelope.copy_with(task="nope.nothing")
        text = base64.b64encode(envelope.encode()).decode()
    deployed.send_raw(text)
    [message] = deployed.receive()
    outcome = deployed.run(message)
    assert isinstance(outcome, DeadLetter) and outcome.cause is cause
    [poisoned] = deployed.peek(poison=True)
    assert poisoned.content == text and poisoned.dequeue_count == 0
    [entry] = deployed.backend.dead_letters.entries()
    assert reason in entry.reason and entry.cause is cause


def test_a_200_kib_payload_travels_through_blob_storage(deployed: Deployed) -> None:
    handle = apps.size_of.delay("x" * 200 * 1024)
    [message] = deployed.receive()
    pointer = Pointer.parse(decode(message.content), deployed.made.container)
    assert isinstance(deployed.run(message), Ack)
    assert handle.result(timeout=1) == 200 * 1024
    container = deployed.backend.clients.container(deployed.made.container)
    assert [b.name for b in container.list_blobs()] == []  # deleted once done
    assert pointer.name.startswith("default/")


def test_a_large_payload_gets_a_new_blob_for_its_retry(deployed: Deployed) -> None:
    handle = apps.flaky.delay("y" * 100_000)
    recording = deployed.record()
    container = deployed.backend.clients.container(deployed.made.container)
    [message] = deployed.receive()
    [first] = [b.name for b in container.list_blobs()]
    assert isinstance(deployed.run(message), RetryLater)
    [sent] = recording.sent
    pointer = Pointer.parse(decode(sent.text), deployed.made.container)
    assert [b.name for b in container.list_blobs()] == [pointer.name] != [first]
    assert decode_envelope(deployed.backend.claim_checks.get(pointer)).attempt == 2
    recording.show(sent)
    [again] = deployed.receive()
    assert isinstance(deployed.run(again), Ack)
    assert handle.result(timeout=1) == "y" * 100_000
    assert list(container.list_blobs()) == []


def test_expired_messages_are_poisoned_with_the_reason(deployed: Deployed) -> None:
    handle = apps.add.send(args=(1, 2), expires=datetime.now(UTC) - timedelta(seconds=1))
    [message] = deployed.receive()
    outcome = deployed.run(message)
    assert isinstance(outcome, DeadLetter) and outcome.cause is Cause.EXPIRED
    record = deployed.backend.results.get(handle.id)
    assert record is not None and record.status is Status.FAILED
