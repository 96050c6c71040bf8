"""The consumer side: run an SQS event's records through the execution core and answer like
a Lambda function with ReportBatchItemFailures.

Each record (a message id listed twice in one event is run and reported once) is run by the
:class:`~dispatcher.execution.Executor` within the time the invocation has left
(``context.get_remaining_time_in_millis()``): a record whose task could not finish before
the deadline less :data:`~dispatcher.receiving.SETTLE_RESERVE` is not started (the first
record always starts, so that a function whose timeout leaves no reserve still makes
progress). Attempts are
counted by the claim records (a delivery that did not run the task uses none). Results are
held and written together once the records ran (a :class:`~dispatcher.receiving.Watchdog`
writes those already done if the deadline comes near first; without a known deadline each
is written as soon as it is done). Then, per outcome:

* DeadLetter (bad input included): sent to the DLQ with its note *before* its FAILED result
  is written, so that a dead letter is never acknowledged before it is stored: if the send
  fails, the result is not written, the claim is released, and the record is delivered
  again, still not final (it runs again and is dead-lettered then).
* Ack: handled (the poller deletes it); its claim-check object is deleted.
* RetryLater: reported in ``batchItemFailures``, its visibility set to the backoff (the
  unstarted ones, and FIFO records held back behind a failed one of their group, to 0: SQS
  keeps a group's order). A standard-queue message whose eta is still ahead (a delay past
  900 s) is re-sent with the remaining delay instead (a hop), and handled.

A record whose result cannot be written is reported failed (the others are not affected).

Lambda's rules this follows: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
(partial batch responses; a killed or timed-out invocation leaves its whole batch),
https://docs.aws.amazon.com/lambda/latest/dg/python-context.html (the context), and SQS FIFO
group order (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from adapters.aws.errors import translated
from adapters.aws.payloads import ATTRIBUTE as CLAIM_CHECK_ATTRIBUTE
from adapters.aws.payloads import MissingClaimCheck, Pointer
from adapters.aws.producer import MAX_DELAY, fifo_id
from dispatcher.backend import Ack, Cause, DeadLetter, Delivery, Outcome, RetryLater, Status
from dispatcher.execution import CLAIM_GRACE, Executor
from dispatcher.receiving import BufferedResults, Deadline, Watchdog

if TYPE_CHECKING:
    import logging

    from adapters.aws.producer import AwsBackend
    from dispatcher.app import Dispatcher
    from dispatcher.backend import TaskResult


def log() -> logging.Logger:
    """The adapter's logger, ``dispatcher.aws``; ``logging`` is imported on first use (it
    costs a cold start ~6 ms, and a batch that goes well logs nothing)."""
    import logging

    return logging.getLogger("dispatcher.aws")


#: SQS's longest visibility timeout.
MAX_VISIBILITY = 43_200

Record = Mapping[str, Any]
Answer = dict[str, list[dict[str, str]]]


class _Ran(NamedTuple):
    """A record that went through the executor: what to do with it, and its body."""

    record: Record
    outcome: Outcome
    pointer: Pointer | None
    body: bytes


def deadline_of(context: Any) -> Deadline | None:
    """The invocation's deadline from a Lambda context (``None`` without one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return Deadline(lambda: float(remaining()) / 1000)


def _not_failed(result: TaskResult) -> bool:
    return result.status is not Status.FAILED


class SqsEventProcessor:
    """Processes SQS events for ``app`` on ``backend``; ``clock`` feeds the executor,
    ``claim_grace`` is how long a claim outlives the invocation (or the task)."""

    def __init__(
        self,
        app: Dispatcher,
        backend: AwsBackend,
        *,
        clock: Callable[[], float] = time.time,
        claim_grace: float = CLAIM_GRACE,
    ) -> None:
        self.app, self.backend = app, backend
        self.results = BufferedResults(backend.results)
        self.executor = Executor(
            app, self.results, clock=clock, count_deliveries=False, claim_grace=claim_grace
        )
        self.watchdog = Watchdog(self.write_done)

    def handle(self, event: Mapping[str, Any], context: Any = None) -> Answer:
        """Process every record within the time ``context`` leaves; return
        ``{"batchItemFailures": [...]}``."""
        deadline = deadline_of(context)
        records = _once_each(event.get("Records", []))
        failed: set[str] = set()
        blocked: set[tuple[str, str]] = set()
        held_back: list[Record] = []
        ran: list[_Ran] = []
        with self.watchdog.watching(deadline):
            limit = deadline.first() if deadline is not None else None
            for record in records:
                group = record.get("attributes", {}).get("MessageGroupId")
                key = (str(record.get("eventSourceARN")), str(group))
                if group is not None and key in blocked:
                    held_back.append(record)
                    continue
                try:
                    done = self.run(record, limit)
                except Exception:
                    log().exception("record %s could not be processed", record.get("messageId"))
                    failed.add(record["messageId"])
                    blocked.add(key)
                    continue
                if isinstance(done.outcome, RetryLater):
                    blocked.add(key)
                ran.append(done)
                limit = deadline  # the first record may use all the time, the others not
                if deadline is None:  # nothing bounds the batch: keep nothing done unwritten
                    self.write_done()
            failed |= self.settle(ran, held_back)
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in failed
            ]
        }

    def run(self, record: Record, deadline: Deadline | None = None) -> _Ran:
        """Run one record through the executor (its result is held)."""
        pointer: Pointer | None = None
        body: bytes = record["body"].encode()
        check = (record.get("messageAttributes") or {}).get(CLAIM_CHECK_ATTRIBUTE)
        if check is not None:
            try:
                pointer = Pointer.parse(str(check.get("stringValue")))
                body = self.backend.claim_checks.get(pointer)
            except (ValueError, MissingClaimCheck) as error:  # a foreign bucket is a ValueError
                return _Ran(record, DeadLetter(str(error), cause=Cause.PAYLOAD), None, body)
        delivery = Delivery(
            body=body,
            receive_count=int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
            queue=queue_of(record),
            backend_id=str(record["messageId"]),
        )
        return _Ran(record, self.executor.process(delivery, deadline), pointer, body)

    # --- settling ----------------------------------------------------------------------------

    def write_done(self) -> None:
        """Write the held results that may be written before their outcomes are applied
        (all but dead letters', which wait for the DLQ); keep those that failed held."""
        taken = self.results.take(_not_failed)
        if not taken:
            return
        unwritten = self.backend.results.write(taken)
        for result in taken:
            if result.id in unwritten:
                self.results.save(result)

    def settle(self, ran: list[_Ran], held_back: list[Record]) -> set[str]:
        """Apply the outcomes (dead letters stored first, then the results written, then the
        rest); the message ids that stay on the queue."""
        failed: set[str] = set()
        for done in ran:
            if isinstance(done.outcome, DeadLetter) and not self.dead_letter(
                done.record, done.outcome
            ):
                failed.add(done.record["messageId"])
                task_id = _envelope_id(done.body)
                if task_id is not None:  # not final: a redelivery runs and dead-letters it again
                    self.results.drop(task_id)
                    self._release(task_id)
        unwritten = self.backend.results.write(self.results.take())
        for done in ran if unwritten else ():
            error = unwritten.get(_envelope_id(done.body) or "")
            message_id = done.record["messageId"]
            if error is None:
                continue
            if isinstance(done.outcome, DeadLetter):  # stored in the DLQ: not to be run again
                log().error("dead letter %s is stored; its result was not: %s", message_id, error)
                continue
            log().error("the result of %s was not saved: %s", message_id, error)
            failed.add(message_id)
        later: list[tuple[Record, float]] = [(record, 0.0) for record in held_back]
        for done in ran:
            record, outcome, message_id = done.record, done.outcome, done.record["messageId"]
            if message_id in failed or isinstance(outcome, DeadLetter):
                continue
            if isinstance(outcome, Ack):
                if done.pointer is not None:
                    self._delete_claim_check(done.pointer)
                continue
            queue = queue_of(record)
            if outcome.cause is Cause.NOT_DUE and not queue.endswith(".fifo"):
                try:
                    self.hop(record, outcome.delay)
                    continue
                except Exception as error:
                    log().warning("could not re-send %s with its delay: %s", message_id, error)
            failed.add(message_id)
            later.append((record, outcome.delay))
        failed |= {r["messageId"] for r, _ in later}
        self.change_visibility(later)
        return failed

    def _release(self, task_id: str) -> None:
        try:
            self.backend.results.release(task_id)
        except Exception as error:  # its lease runs out by itself
            log().warning("could not release the claim on %s: %s", task_id, error)

    def _delete_claim_check(self, pointer: Pointer) -> None:
        try:
            self.backend.claim_checks.delete(pointer)
        except Exception as error:  # the bucket's lifecycle rule expires it
            log().warning("could not delete %s: %s", pointer.url, error)

    def change_visibility(self, records: list[tuple[Record, float]]) -> None:
        """Make each record visible again after its delay (ChangeMessageVisibilityBatch, ten
        a request); a record whose change fails comes back after the queue's own timeout."""
        by_queue: dict[str, list[tuple[Record, float]]] = {}
        for record, delay in records:
            by_queue.setdefault(queue_of(record), []).append((record, delay))
        for queue, items in by_queue.items():
            for start in range(0, len(items), 10):
                chunk = items[start : start + 10]
                entries = [
                    {
                        "Id": str(i),
                        "ReceiptHandle": record["receiptHandle"],
                        "VisibilityTimeout": min(MAX_VISIBILITY, max(0, math.ceil(delay))),
                    }
                    for i, (record, delay) in enumerate(chunk)
                ]
                try:
                    with translated(f"changing the visibility of messages on {queue!r}"):
                        response = self.backend.clients.sqs.change_message_visibility_batch(
                            QueueUrl=self.backend.queue_url(queue), Entries=entries
                        )
                except Exception as error:
                    log().warning("could not delay the retries on %s: %s", queue, error)
                    continue
                for failure in response.get("Failed") or []:
                    log().warning("could not delay a retry on %s: %s", queue, failure)

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
        from adapters.aws.dead_letters import Note, dead_letter_attributes  # a rare path

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
        except Exception as error:  # leave it on the queue: it is dead-lettered again
            log().error("could not dead-letter %s (%s): %s", _shown(record), outcome.reason, error)
            return False
        log().warning("dead-lettered %s from %s: %s", _shown(record), queue, outcome.reason)
        return True


def _once_each(records: list[Record]) -> list[Record]:
    """The records in order, a message id listed again dropped."""
    seen: set[str] = set()
    unique = []
    for record in records:
        if record["messageId"] not in seen:
            seen.add(record["messageId"])
            unique.append(record)
    return unique


def _envelope_id(body: bytes) -> str | None:
    """The envelope id of a body, when it has one (only read on the rare paths)."""
    from dispatcher.dead_letters import envelope_of

    envelope = envelope_of(body)
    return None if envelope is None else envelope.id


def _shown(record: Record) -> str:
    """How logs name a record: its envelope id (what users see everywhere else), with the SQS
    message id beside it."""
    sqs_id = record["messageId"]
    envelope_id = _envelope_id(str(record.get("body", "")).encode())
    return f"{envelope_id} (SQS message {sqs_id})" if envelope_id else f"SQS message {sqs_id}"


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
