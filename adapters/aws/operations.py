"""What an operator asks of the AWS backend (``dispatcher queues``, ``revoke``, ``purge``,
``result``), apart from what a worker function does: these calls run with the operator's
credentials, never under a function's role."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.aws.errors import translated
from dispatcher.backend import TaskResult
from dispatcher.operations import QueueStat

if TYPE_CHECKING:
    from adapters.aws.producer import AwsBackend


def queue_stats(backend: AwsBackend, queues: Sequence[str]) -> list[QueueStat]:
    """SQS's approximate counts of each queue and its DLQ."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    stats = []
    for queue in queues:
        target = backend.target(queue)
        dlq = backend.names.dead_letter_queue(queue, target.ordered)
        with translated(f"counting the messages of {target.name!r}"):
            counts = backend.clients.sqs.get_queue_attributes(
                QueueUrl=target.url, AttributeNames=names
            )["Attributes"]
            dead = backend.clients.sqs.get_queue_attributes(
                QueueUrl=backend.queue_url(dlq), AttributeNames=names
            )["Attributes"]
        ready, in_flight, delayed = (int(counts.get(name, 0)) for name in names)
        stats.append(
            QueueStat(queue, ready, in_flight, delayed, sum(int(dead.get(n, 0)) for n in names))
        )
    return stats


def knows(backend: AwsBackend, message_id: str) -> bool | None:
    """``True`` once ``message_id`` has a result; ``None`` before (SQS cannot look a
    message up by id)."""
    return True if backend.results.get(message_id) is not None else None


def revoke(backend: AwsBackend, message_id: str, task: str) -> None:
    """Record ``message_id`` as revoked; the handler acknowledges it without running when
    it arrives (SQS cannot delete a message by id)."""
    backend.results.save(TaskResult.revoked(message_id, task, datetime.now(UTC)))


def purge(backend: AwsBackend, queue: str) -> int | None:
    """PurgeQueue (SQS allows one a minute per queue and gives no count)."""
    target = backend.target(queue)
    with translated(f"purging SQS queue {target.name!r}"):
        backend.clients.sqs.purge_queue(QueueUrl=target.url)
    return None
