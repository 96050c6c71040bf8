"""The consumer side: run an SQS event's records through the execution core and answer like
a Lambda function with ReportBatchItemFailures.

Per record: fetch a claim-checked body, run it (:class:`~dispatcher.execution.Executor`), then
* Ack: handled (the poller deletes it); its claim-check object is deleted.
* RetryLater: reported in ``batchItemFailures``, after ChangeMessageVisibility to the backoff
  delay. A message whose eta is still ahead (a delay past 900 s) is re-sent with the remaining
  delay instead (a hop), and handled.
* DeadLetter (bad input included): sent to the DLQ at once with the reason as a message
  attribute, and handled. Nothing poisons the rest of the batch, nothing loops.
On a FIFO queue, once a record fails, the later records of its message group fail too, so the
group keeps its order. Results are written together (BatchWriteItem) once the records ran.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from adapters.aws.dead_letters import Note, dead_letter_attributes
from adapters.aws.errors import translated
from adapters.aws.payloads import ATTRIBUTE as CLAIM_CHECK_ATTRIBUTE
from adapters.aws.payloads import MissingClaimCheck, Pointer
from adapters.aws.producer import MAX_DELAY, fifo_id
from dispatcher.backend import Ack, Cause, DeadLetter, Delivery, Outcome, RetryLater
from dispatcher.execution import Executor
from dispatcher.receiving import BufferedResults

if TYPE_CHECKING:
    import logging

    from adapters.aws.producer import AwsBackend
    from dispatcher.app import Dispatcher


def log() -> logging.Logger:
    """The adapter's logger, ``dispatcher.aws``; ``logging`` is imported on first use (it
    costs a cold start ~6 ms, and a batch that goes well logs nothing)."""
    import logging

    return logging.getLogger("dispatcher.aws")


#: SQS's longest visibility timeout.
MAX_VISIBILITY = 43_200

Record = Mapping[str, Any]


class SqsEventProcessor:
    """Processes SQS events for ``app`` on ``backend``; ``clock`` feeds the executor."""

    def __init__(
        self, app: Dispatcher, backend: AwsBackend, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.app, self.backend = app, backend
        self.results = BufferedResults(backend.results)
        self.executor = Executor(app, self.results, clock=clock)

    def handle(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Process every record; return ``{"batchItemFailures": [...]}``.

        Records run first; their results are then written together, and only after that are
        the outcomes applied (DLQ, hops, visibility, claim-check deletes). If the results
        cannot be written, every record that ran is reported failed and delivered again."""
        records: list[Record] = list(event.get("Records", []))
        failed: set[str] = set()
        blocked: set[tuple[str, str]] = set()
        ran: list[tuple[Record, Outcome, Pointer | None]] = []
        for record in records:
            group = record.get("attributes", {}).get("MessageGroupId")
            key = (str(record.get("eventSourceARN")), str(group))
            if group is not None and key in blocked:
                failed.add(record["messageId"])
                continue
            try:
                outcome, pointer = self.run(record)
            except Exception:
                log().exception("record %s could not be processed", record.get("messageId"))
                failed.add(record["messageId"])
                blocked.add(key)
                continue
            if isinstance(outcome, RetryLater):
                blocked.add(key)
            ran.append((record, outcome, pointer))
        try:
            self.flush()
        except Exception:
            log().exception("results could not be saved; the batch will be delivered again")
            self.results.discard()
            failed.update(record["messageId"] for record, _, _ in ran)
            ran = []
        for record, outcome, pointer in ran:
            try:
                handled = self.apply(record, outcome, pointer)
            except Exception:
                log().exception("record %s could not be settled", record.get("messageId"))
                handled = False
            if not handled:
                failed.add(record["messageId"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in failed
            ]
        }

    def flush(self) -> None:
        """Write the held results: one PutItem for one, BatchWriteItem for more."""
        pending = self.results.take()
        if len(pending) == 1:
            self.backend.results.save(pending[0])
        elif pending:
            self.backend.results.save_many(pending)

    def run(self, record: Record) -> tuple[Outcome, Pointer | None]:
        """Run one record through the executor (results are held until the event ends)."""
        pointer: Pointer | None = None
        body: bytes = record["body"].encode()
        check = (record.get("messageAttributes") or {}).get(CLAIM_CHECK_ATTRIBUTE)
        if check is not None:
            try:
                pointer = Pointer.parse(str(check.get("stringValue")))
                body = self.backend.claim_checks.get(pointer)
            except (ValueError, MissingClaimCheck) as error:
                return DeadLetter(str(error), cause=Cause.PAYLOAD), None
        attributes = record.get("attributes") or {}
        delivery = Delivery(
            body=body,
            receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
            queue=queue_of(record),
            backend_id=str(record["messageId"]),
        )
        return self.executor.process(delivery), pointer

    def process_record(self, record: Record) -> bool:
        """Run and settle one record on its own; ``True`` when it is handled."""
        outcome, pointer = self.run(record)
        self.flush()
        return self.apply(record, outcome, pointer)

    def apply(self, record: Record, outcome: Outcome, pointer: Pointer | None) -> bool:
        """Carry out ``outcome`` for ``record``; ``True`` when the record is handled."""
        if isinstance(outcome, Ack):
            if pointer is not None:
                self.backend.claim_checks.delete(pointer)
            return True
        if isinstance(outcome, DeadLetter):
            return self.dead_letter(record, outcome)
        queue = queue_of(record)
        if outcome.cause is Cause.NOT_DUE and not queue.endswith(".fifo"):
            self.hop(record, outcome.delay)
            return True
        visibility = min(MAX_VISIBILITY, max(0, math.ceil(outcome.delay)))
        try:
            with translated(f"changing the visibility of a message on {queue!r}"):
                self.backend.clients.sqs.change_message_visibility(
                    QueueUrl=self.backend.queue_url(queue),
                    ReceiptHandle=record["receiptHandle"],
                    VisibilityTimeout=visibility,
                )
        except Exception as error:  # it comes back after the queue's own visibility timeout
            log().warning("could not delay the retry of %s: %s", record["messageId"], error)
        return False

    def hop(self, record: Record, delay: float) -> None:
        """Re-send a message that is not due yet, with the remaining delay (at most 900 s)."""
        queue = queue_of(record)
        with translated(f"re-sending a delayed message to {queue!r}"):
            self.backend.clients.sqs.send_message(
                QueueUrl=self.backend.queue_url(queue),
                MessageBody=record["body"],
                MessageAttributes=sendable_attributes(record),
                DelaySeconds=min(MAX_DELAY, max(0, round(delay))),
            )

    def dead_letter(self, record: Record, outcome: DeadLetter) -> bool:
        """Send ``record`` to its queue's DLQ with the reason; ``True`` once it is there."""
        queue = queue_of(record)
        dlq = dead_letter_queue_of(queue)
        note = Note(
            reason=outcome.reason,
            cause=outcome.cause.value,
            attempt=outcome.attempt,
            queue=queue,
            at=time.time(),
        )
        attributes = dead_letter_attributes(sendable_attributes(record), note)
        extra: dict[str, str] = {}
        if dlq.endswith(".fifo"):  # each its own group: a listing can read them all
            extra = {
                "MessageGroupId": fifo_id(record["messageId"]),
                "MessageDeduplicationId": fifo_id(record["messageId"]),
            }
        try:
            with translated(f"dead-lettering a message to {dlq!r}"):
                self.backend.clients.sqs.send_message(
                    QueueUrl=self.backend.queue_url(dlq),
                    MessageBody=record["body"],
                    MessageAttributes=attributes,
                    **extra,
                )
        except Exception as error:  # leave it on the queue: SQS's redrive is the backstop
            log().error(
                "could not dead-letter %s (%s): %s", record["messageId"], outcome.reason, error
            )
            return False
        log().warning("dead-lettered %s from %s: %s", record["messageId"], queue, outcome.reason)
        return True


def queue_of(record: Record) -> str:
    """The queue name at the end of the record's ``eventSourceARN``."""
    return str(record["eventSourceARN"]).rsplit(":", 1)[-1]


def dead_letter_queue_of(queue: str) -> str:
    """``shop-payments`` -> ``shop-payments-dlq`` (``.fifo`` kept last), as in
    :func:`dispatcher.naming.dead_letter_queue_name`."""
    fifo = queue.endswith(".fifo")
    return queue.removesuffix(".fifo") + "-dlq" + (".fifo" if fifo else "")


def sendable_attributes(record: Record) -> dict[str, dict[str, str]]:
    """The record's string message attributes, in SendMessage's shape."""
    sendable: dict[str, dict[str, str]] = {}
    for name, value in (record.get("messageAttributes") or {}).items():
        text = value.get("stringValue")
        if text is not None:
            sendable[name] = {"DataType": str(value.get("dataType", "String")), "StringValue": text}
    return sendable
