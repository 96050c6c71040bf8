"""The producer side: envelopes onto SQS queues (standard or FIFO), in batches of ten,
with delays past SQS's 900 s on EventBridge Scheduler where it is deployed
(:mod:`adapters.aws.scheduler`), else by hops, and bodies past its size limit by claim check."""

from __future__ import annotations

import functools
import hashlib
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from adapters.aws.clients import Clients
from adapters.aws.config import AwsConfig
from adapters.aws.errors import translate, translated
from adapters.aws.payloads import ATTRIBUTE as CLAIM_CHECK_ATTRIBUTE
from adapters.aws.payloads import ClaimChecks, Pointer
from adapters.aws.resources import AwsNames
from adapters.aws.results import DynamoResults
from adapters.aws.scheduler import DelayScheduler, SchedulerConfig, delay_due, fits
from dispatcher import naming
from dispatcher.backend import Outgoing, Receipt, SendFailure
from dispatcher.errors import BackendNotConfigured, QueueNotFound

if TYPE_CHECKING:
    from adapters.aws.dead_letters import SqsDeadLetters
    from dispatcher.app import Dispatcher
    from dispatcher.envelope import Envelope
    from dispatcher.operations import QueueStat

#: How long a dedup key suppresses repeats (SQS FIFO's window, and the local backend's).
DEDUP_WINDOW = 300.0
#: SQS's largest message (body and attributes), in bytes: 1 MiB.
MAX_MESSAGE_SIZE = 1_048_576
#: SQS's longest DelaySeconds; longer delays travel in hops.
MAX_DELAY = 900
#: SQS's batch limits: entries per SendMessageBatch and bytes per request.
BATCH_ENTRIES = 10
_ALLOWED_ID = frozenset(string.ascii_letters + string.digits + string.punctuation)


class QueueTarget(NamedTuple):
    """A task queue as it exists on SQS."""

    queue: str
    name: str
    url: str
    ordered: bool


class AwsBackend:
    """:class:`~dispatcher.backend.Backend` on SQS (messages), DynamoDB (results), S3
    (large bodies) and EventBridge Scheduler (long delays, where deployed). Resource names
    come from :mod:`dispatcher.naming`, for the stage and account of ``config``."""

    def __init__(
        self,
        app: Dispatcher,
        config: AwsConfig,
        *,
        clients: Clients | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        self.app, self.config = app, config
        self.clients = clients or Clients(config)
        self.max_message_size = max_message_size
        self.names = AwsNames(app.name, config, self.clients)
        self.results = DynamoResults(
            self.clients, self.names.results_table(), payloads=lambda: self.claim_checks
        )
        scheduler = SchedulerConfig.from_environment()
        self.scheduler = DelayScheduler(self.clients, scheduler) if scheduler else None
        self._targets: dict[str, QueueTarget] = {}
        self._urls: dict[str, str] = {}

    @functools.cached_property
    def dead_letters(self) -> SqsDeadLetters:
        """The app's dead-letter queues (loaded on first use: a handler that dead-letters
        nothing never imports them)."""
        from adapters.aws.dead_letters import SqsDeadLetters

        return SqsDeadLetters(self)

    def __repr__(self) -> str:
        where = self.config.endpoint or "aws"
        return f"<AwsBackend {self.app.name} {self.config.region} {where}>"

    @functools.cached_property
    def claim_checks(self) -> ClaimChecks:
        """The claim-check bucket (its name needs the account: looked up on first use)."""
        return ClaimChecks(self.clients, self.names.claim_check_bucket())

    # --- queues ------------------------------------------------------------------------------

    def target(self, queue: str, ordered: bool | None = None) -> QueueTarget:
        """The SQS queue of task queue ``queue`` (its URL is looked up once). Senders say
        whether it is ordered (``Outgoing.ordered``); receivers, which know the app, need not."""
        found = self._targets.get(queue)
        if found is None:
            if ordered is None:
                spec = self.app.queues.get(queue)
                ordered = spec.ordered if spec is not None else False
            name = self.names.queue(queue, ordered)
            found = self._targets[queue] = QueueTarget(queue, name, self.queue_url(name), ordered)
        return found

    def queue_url(self, name: str) -> str:
        """The URL of the SQS queue called ``name``; :class:`QueueNotFound` names it if missing."""
        url = self._urls.get(name)
        if url is None:
            try:
                response = self.clients.sqs.get_queue_url(QueueName=name)
            except Exception as error:
                mapped = translate(error, f"looking up SQS queue {name!r}")
                if isinstance(mapped, QueueNotFound):
                    stage = (
                        f"stage {self.config.stage!r}"
                        if self.config.stage
                        else f"no stage: set {naming.STAGE_ENV} to the deployed one"
                    )
                    raise QueueNotFound(
                        f"SQS queue {name!r} does not exist in {self.config.region}"
                        f"{' at ' + self.config.endpoint if self.config.endpoint else ''} "
                        f"({stage}; deploy the app's infrastructure, or run "
                        "`dispatcher emulate aws APP`)"
                    ) from error
                if mapped is None:
                    raise
                raise mapped from error
            url = self._urls[name] = str(response["QueueUrl"])
        return url

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: Outgoing) -> Receipt:
        """SendMessage one envelope (unless its dedup key was sent in the last five minutes:
        the receipt then names the earlier message)."""
        target = self.target(message.queue, message.ordered)
        duplicate = self._duplicate(message, target)
        if duplicate is not None:
            return duplicate
        entry: dict[str, Any] | None = None
        try:
            entry = self.entry(message, target)
            scheduled = self._scheduled(message, target, entry)
            if scheduled is not None:
                return scheduled
            with translated(f"sending {message.envelope.task} to SQS queue {target.name!r}"):
                response = self.clients.sqs.send_message(QueueUrl=target.url, **entry)
        except Exception:
            self._release(message, target)
            if entry is not None:
                self._drop_claim_check(entry)
            raise
        return Receipt(message.envelope.id, str(response.get("MessageId")))

    def _scheduled(
        self, message: Outgoing, target: QueueTarget, entry: dict[str, Any]
    ) -> Receipt | None:
        """Schedule a message whose delay SQS cannot hold on EventBridge Scheduler, when it is
        deployed and the message can travel there (a standard queue, no claim check, an input
        within its size); ``None`` when the message goes to SQS (hopping if need be)."""
        if (
            self.scheduler is None
            or target.ordered
            or message.delay <= MAX_DELAY
            or CLAIM_CHECK_ATTRIBUTE in entry["MessageAttributes"]
            or not fits(entry["MessageBody"])
        ):
            return None
        envelope = message.envelope
        dead_letter = self.names.dead_letter_queue(target.queue, target.ordered)
        name = self.scheduler.schedule(
            message_id=envelope.id,
            body=entry["MessageBody"],
            due=envelope.eta or delay_due(message.delay),
            queue_arn=self.names.queue_arn(target.name),
            dead_letter_arn=self.names.queue_arn(dead_letter),
        )
        return Receipt(envelope.id, f"schedule/{self.scheduler.config.group}/{name}")

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        """SendMessageBatch in chunks of ten (and at most 1 MiB); one entry per message."""
        results: list[Receipt | SendFailure | None] = [None] * len(messages)
        by_queue: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            by_queue.setdefault(message.queue, []).append(index)
        for queue, indexes in by_queue.items():
            target = self.target(queue, messages[indexes[0]].ordered)
            entries: list[tuple[int, dict[str, Any]]] = []
            try:
                for i in indexes:
                    results[i] = self._duplicate(messages[i], target)
                    if results[i] is None:
                        entry = self.entry(messages[i], target)
                        try:
                            results[i] = self._scheduled(messages[i], target, entry)
                        except (QueueNotFound, BackendNotConfigured):
                            raise
                        except Exception as error:
                            results[i] = SendFailure(messages[i].envelope.id, str(error), True)
                        if results[i] is None:
                            entries.append((i, entry))
                for chunk in _chunks(entries, self.max_message_size):
                    self._send_chunk(target, chunk, messages, results)
            finally:
                for i, entry in entries:
                    if not isinstance(results[i], Receipt):
                        self._drop_claim_check(entry)
                for i in indexes:
                    if isinstance(results[i], SendFailure) or results[i] is None:
                        self._release(messages[i], target)
        return [r if r is not None else SendFailure("?", "not sent") for r in results]

    def _duplicate(self, message: Outgoing, target: QueueTarget) -> Receipt | None:
        key = message.envelope.dedup_key
        if key is None:
            return None
        holder = self.results.hold_key(f"{target.name}#{key}", message.envelope.id, DEDUP_WINDOW)
        if holder == message.envelope.id:
            return None
        return Receipt(message.envelope.id, duplicate_of=holder)

    def _release(self, message: Outgoing, target: QueueTarget) -> None:
        key = message.envelope.dedup_key
        if key is not None:
            import contextlib  # here: only a send that failed comes this way

            with contextlib.suppress(Exception):  # best effort: the key expires with its window
                self.results.release_key(f"{target.name}#{key}", message.envelope.id)

    def _drop_claim_check(self, entry: dict[str, Any]) -> None:
        """Delete the claim-checked body of a message that was not sent (best effort: the
        bucket's lifecycle rule expires what is left)."""
        check = entry.get("MessageAttributes", {}).get(CLAIM_CHECK_ATTRIBUTE)
        if check is not None:
            import contextlib  # here: only a send that failed comes this way

            with contextlib.suppress(Exception):
                self.claim_checks.delete(Pointer.parse(check["StringValue"]))

    def _send_chunk(
        self,
        target: QueueTarget,
        chunk: list[tuple[int, dict[str, Any]]],
        messages: Sequence[Outgoing],
        results: list[Receipt | SendFailure | None],
    ) -> None:
        batch = [{"Id": str(i), **entry} for i, entry in chunk]
        try:
            with translated(f"sending a batch to SQS queue {target.name!r}"):
                response = self.clients.sqs.send_message_batch(QueueUrl=target.url, Entries=batch)
        except (QueueNotFound, BackendNotConfigured):  # nothing in any batch could be sent
            raise
        except Exception as error:  # the whole request failed: every message of it did
            for i, _ in chunk:
                results[i] = SendFailure(messages[i].envelope.id, str(error), retryable=True)
            return
        for ok in response.get("Successful", []):
            i = int(ok["Id"])
            results[i] = Receipt(messages[i].envelope.id, str(ok.get("MessageId")))
        for failed in response.get("Failed", []):
            i = int(failed["Id"])
            reason = f"{failed.get('Code', 'error')}: {failed.get('Message', '')}".rstrip(": ")
            results[i] = SendFailure(
                messages[i].envelope.id, reason, retryable=not failed.get("SenderFault", False)
            )

    def entry(self, message: Outgoing, target: QueueTarget) -> dict[str, Any]:
        """The SendMessage arguments (without ``QueueUrl``) for ``message``."""
        envelope = message.envelope
        attributes = message_attributes(envelope)
        body = message.body.decode()
        if len(message.body) + attributes_size(attributes) > self.max_message_size:
            pointer = self.claim_checks.put(f"{target.queue}/{envelope.id}.json", message.body)
            attributes[CLAIM_CHECK_ATTRIBUTE] = {"DataType": "String", "StringValue": pointer.url}
            body = pointer.body()
        entry: dict[str, Any] = {"MessageBody": body, "MessageAttributes": attributes}
        if target.ordered:
            entry["MessageGroupId"] = fifo_id(envelope.group_key or envelope.task)
            entry["MessageDeduplicationId"] = fifo_id(envelope.dedup_key or envelope.id)
        elif message.delay > 0:
            entry["DelaySeconds"] = min(MAX_DELAY, max(0, round(message.delay)))
        return entry

    # --- what an operator asks (adapters/aws/operations.py, imported when asked) -----------

    def queue_stats(self, queues: Sequence[str]) -> list[QueueStat]:
        """SQS's approximate counts of each queue and its DLQ."""
        from adapters.aws import operations

        return operations.queue_stats(self, queues)

    def knows(self, message_id: str) -> bool | None:
        """``True`` once ``message_id`` has a result; ``None`` before."""
        from adapters.aws import operations

        return operations.knows(self, message_id)

    def revoke(self, message_id: str, task: str) -> None:
        """Record ``message_id`` as revoked (the handler then acknowledges it unrun)."""
        from adapters.aws import operations

        operations.revoke(self, message_id, task)

    def purge(self, queue: str) -> int | None:
        """PurgeQueue."""
        from adapters.aws import operations

        return operations.purge(self, queue)

    def close(self) -> None:
        """Close the clients."""
        self.clients.close()


def message_attributes(envelope: Envelope) -> dict[str, dict[str, str]]:
    """SQS message attributes carrying the task name and trace context."""
    attributes = {"task": {"DataType": "String", "StringValue": envelope.task}}
    if envelope.traceparent:
        attributes["traceparent"] = {"DataType": "String", "StringValue": envelope.traceparent}
    return attributes


def attributes_size(attributes: dict[str, dict[str, str]]) -> int:
    """Bytes SQS counts for message attributes (name, type and value of each)."""
    return sum(
        len(name.encode()) + len(value["DataType"]) + len(value.get("StringValue", "").encode())
        for name, value in attributes.items()
    )


def fifo_id(key: str) -> str:
    """A valid MessageGroupId / MessageDeduplicationId for ``key`` (hashed if it is not)."""
    if 0 < len(key) <= 128 and all(c in _ALLOWED_ID for c in key):
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _chunks(
    entries: list[tuple[int, dict[str, Any]]], max_bytes: int
) -> list[list[tuple[int, dict[str, Any]]]]:
    chunks: list[list[tuple[int, dict[str, Any]]]] = []
    current: list[tuple[int, dict[str, Any]]] = []
    size = 0
    for index, entry in entries:
        entry_size = len(entry["MessageBody"].encode()) + attributes_size(
            entry["MessageAttributes"]
        )
        if current and (len(current) == BATCH_ENTRIES or size + entry_size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append((index, entry))
        size += entry_size
    if current:
        chunks.append(current)
    return chunks
