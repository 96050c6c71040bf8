"""The producer on Azurite: base64 text, delays, time to live, the size limit and claim check,
concurrent batches, dedup keys, and the operations every backend offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.azure.encoding import decode, encode
from adapters.azure.payloads import Pointer, is_pointer
from adapters.azure.producer import (
    EXPIRY_GRACE,
    MAX_MESSAGE_SIZE,
    MAX_VISIBILITY,
    NEVER,
    time_to_live,
    visibility_for,
)
from dispatcher import Dispatcher, Status
from dispatcher.envelope import Envelope
from dispatcher.envelope import decode as decode_envelope
from dispatcher.errors import BatchSendError, EnvelopeTooLarge, QueueNotFound, Unsupported
from tests.azure import apps
from tests.azure.conftest import Deployed

pytestmark = pytest.mark.emulator


def test_delay_puts_the_envelope_as_base64_text(deployed: Deployed) -> None:
    handle = apps.add.delay(2, 3)
    [message] = deployed.peek()
    body = decode(message.content)
    assert body.startswith(b'{"version":1,')
    envelope = decode_envelope(body)
    assert (envelope.id, envelope.task, envelope.args) == (
        handle.id,
        "tests.azure.apps.add",
        [2, 3],
    )
    assert message.content == encode(body)


def test_a_countdown_hides_the_message_until_it_is_due(deployed: Deployed) -> None:
    apps.add.send(args=(1, 1), countdown=30)
    assert deployed.peek() == []
    [stat] = deployed.backend.queue_stats(["default"])
    assert stat.depth == 1  # Azure's count includes hidden messages


def test_a_delay_past_seven_days_is_sent_as_seven_days(deployed: Deployed) -> None:
    handle = apps.add.send(args=(1, 1), eta=datetime.now(UTC) + timedelta(days=30))
    assert deployed.peek() == []
    assert deployed.backend.results.get(handle.id) is None


def test_visibility_rules() -> None:
    # Put Message: 0 to 7 days, and before the message expires.
    assert visibility_for(0.2, NEVER) == 1
    assert visibility_for(0, NEVER) == 0
    assert visibility_for(30 * 86_400, NEVER) == MAX_VISIBILITY == 604_800
    assert visibility_for(100, 50) == 49
    assert visibility_for(-5, NEVER) == 0


def test_time_to_live_follows_expiry(deployed: Deployed) -> None:
    apps.add.send(args=(1, 1), expires=60)
    apps.add.delay(1, 2)
    expiring, lasting = sorted(deployed.peek(), key=lambda m: m.expires_on)
    now = datetime.now(UTC)
    assert abs((expiring.expires_on - now).total_seconds() - (60 + EXPIRY_GRACE)) < 5
    assert lasting.expires_on.year == 9999  # -1: never, not Azure's default of 7 days


def test_time_to_live_of_an_envelope() -> None:
    now = datetime.now(UTC)
    envelope = Envelope(id="x", task="t", created_at=now, expires_at=now + timedelta(seconds=10))
    assert time_to_live(envelope, now.timestamp()) == 10 + EXPIRY_GRACE
    late = envelope.copy_with(expires_at=now - timedelta(hours=5))
    assert time_to_live(late, now.timestamp()) == 1 + EXPIRY_GRACE
    assert time_to_live(envelope.copy_with(expires_at=None), now.timestamp()) == NEVER


def test_the_size_limit_is_64_kib_of_encoded_text(deployed: Deployed) -> None:
    queue = deployed.made.queues["default"]
    exactly = b"x" * (MAX_MESSAGE_SIZE // 4 * 3)  # 48 KiB of body: 64 KiB of base64
    deployed.backend.post(queue, exactly, delay=0, ttl=NEVER, blob="default/exact")
    deployed.backend.post(queue, exactly + b"y", delay=0, ttl=NEVER, blob="default/over")
    first, second = sorted(deployed.peek(), key=lambda m: len(m.content), reverse=True)
    assert len(first.content) == MAX_MESSAGE_SIZE and decode(first.content) == exactly
    pointer = Pointer.parse(decode(second.content), deployed.made.container)
    assert pointer.name.startswith("default/over/")
    assert deployed.backend.claim_checks.get(pointer) == exactly + b"y"


def test_azurite_refuses_text_past_the_limit_as_azure_does(deployed: Deployed) -> None:
    with pytest.raises(EnvelopeTooLarge):
        deployed.backend.put(deployed.made.queues["default"], "A" * (MAX_MESSAGE_SIZE + 1))


def test_a_large_payload_goes_to_blob_storage(deployed: Deployed) -> None:
    apps.size_of.delay("x" * 200 * 1024)
    [message] = deployed.peek()
    body = decode(message.content)
    assert is_pointer(body) and len(message.content) < 200
    blobs = list(deployed.backend.clients.container(deployed.made.container).list_blobs())
    assert len(blobs) == 1 and blobs[0].size > 200 * 1024


def test_map_sends_concurrently(deployed: Deployed) -> None:
    recording = deployed.record()
    handles = apps.add.map((i, i) for i in range(30))
    assert len(handles) == 30 and len({h.id for h in handles}) == 30
    assert recording.calls == 30 and recording.most > 1
    assert len(deployed.receive()) == 30


def test_a_batch_names_what_was_not_sent(deployed: Deployed) -> None:
    deployed.record(fail_on={3})
    with pytest.raises(BatchSendError) as caught:
        apps.add.map((i, i) for i in range(5))
    [failure] = caught.value.failures
    assert failure.retryable and "cannot reach Azure Storage" in failure.reason
    assert len(deployed.receive()) == 4


def test_a_missing_queue_is_named(storage: str) -> None:
    from tests.azure.conftest import deploy

    deployed = deploy(storage)
    deployed.backend.clients.queue(deployed.made.queues["default"]).delete_queue()
    with pytest.raises(QueueNotFound, match=r"'aztest-default' does not exist .* emulate azure"):
        apps.add.delay(1, 2)
    with pytest.raises(QueueNotFound):
        apps.add.map([(1, 2), (3, 4)])


def test_a_dedup_key_drops_repeats(deployed: Deployed) -> None:
    first = apps.add.send(args=(1, 2), dedup_key="order-1")
    second = apps.add.send(args=(1, 2), dedup_key="order-1")
    other = apps.add.send(args=(1, 2), dedup_key="order-2")
    assert second.id == first.id != other.id
    assert len(deployed.peek()) == 2


def test_ordered_tasks_are_refused(storage: str) -> None:
    from adapters.azure.config import AzureConfig
    from adapters.azure.producer import AzureBackend

    app = Dispatcher("aztestordered")

    @app.task(queue="lines", group_by="sku")
    def restock(sku: str) -> None:
        return None

    app.use(AzureBackend(app, AzureConfig.from_connection_string(storage)))
    with pytest.raises(Unsupported, match="no particular order"):
        restock.delay("a")
    app.close()


def test_queue_stats_purge_and_revoke(deployed: Deployed) -> None:
    apps.add.delay(1, 1)
    handle = apps.add.delay(2, 2)
    deployed.send_raw("garbage", queue="default")
    deployed.queue(poison=True).send_message("dead")
    [stat] = deployed.backend.queue_stats(["default"])
    assert (stat.depth, stat.dead_letters, stat.in_flight, stat.delayed) == (3, 1, None, None)
    deployed.backend.revoke(handle.id, "tests.azure.apps.add")
    record = deployed.backend.results.get(handle.id)
    assert record is not None and record.status is Status.REVOKED
    assert deployed.backend.purge("default") == 3
    assert deployed.peek() == []


def test_a_staged_backend_uses_its_stages_names(storage: str) -> None:
    from adapters.azure.config import AzureConfig
    from adapters.azure.producer import AzureBackend
    from adapters.azure.provision import provision

    app = Dispatcher("staged")

    @app.task(queue="jobs")
    def job(n: int) -> int:
        return n

    @app.task(queue="lines", group_by="sku")
    def line(sku: str) -> str:
        return sku

    config = AzureConfig.from_connection_string(storage)._replace(stage="dev")
    backend = AzureBackend(app, config)
    app.use(backend)
    try:
        made = provision(backend)
        # the ordered queue is left out, as the deploy policy decides
        assert made.queues == {"jobs": "staged-dev-jobs"}
        assert made.poison_queues == {"jobs": "staged-dev-jobs-poison"}
        assert (made.table, made.container) == ("stageddevresults", "staged-dev-claim-checks")
        handle = job.delay(7)
        [message] = backend.clients.queue("staged-dev-jobs").peek_messages()
        assert decode_envelope(decode(message.content)).id == handle.id
    finally:
        app.close()
