"""The consumer side: run a queue-trigger message through the execution core and apply the
outcome with Azure's own means, where the Functions host alone would fall short.

Per message (``handle``): fetch a claim-checked body, run it
(:class:`~dispatcher.execution.Executor`), then, by the outcome's cause:

* Ack: done; the host deletes the message when the function returns. A claim-check blob is
  deleted.
* RetryLater, ``FAILED``: the host would retry at once (its ``visibilityTimeout`` is one fixed
  delay, zero by default), so the runtime sends the message again itself, with the next attempt
  number and the task's backoff as visibility delay, and returns: the host deletes this copy.
* RetryLater, ``NOT_DUE`` (a delay past Azure's 7 days) or ``BUSY`` (another delivery holds the
  claim): sent again with the remaining delay, as it is.
* DeadLetter (bad input included): moved to ``<queue>-poison`` at once, as the host would after
  its last retry, and the reason is recorded in the results table under the poison message's
  id (:mod:`adapters.azure.dead_letters`). The host then deletes the original.

A copy sent again starts with a dequeue count of one, so the attempt count travels in the
envelope: deliveries that died without an outcome (the dequeue count beyond one) are added to
it, as the executor counts them. If anything here fails, the function raises and the host
takes over: the message becomes visible again after host.json's ``visibilityTimeout``, and
after ``maxDequeueCount`` such failures the host moves it to the poison queue itself, without
a reason. Since every outcome is applied here, that happens only when the function cannot
reach storage or its process dies.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.azure import names
from adapters.azure.encoding import encode
from adapters.azure.payloads import MissingClaimCheck, Pointer, is_pointer
from adapters.azure.producer import NEVER, time_to_live, visibility_for
from dispatcher.backend import Ack, Cause, DeadLetter, Delivery, Outcome, RetryLater
from dispatcher.envelope import decode
from dispatcher.execution import Executor

if TYPE_CHECKING:
    from adapters.azure.producer import AzureBackend
    from dispatcher.app import Dispatcher
    from dispatcher.backend import ResultStore
    from dispatcher.envelope import Envelope

log = logging.getLogger("dispatcher.azure")


class QueueReceiver:
    """Runs the queue messages of ``app`` on ``backend``; ``results`` (the backend's table by
    default) and ``clock`` feed the executor."""

    def __init__(
        self,
        app: Dispatcher,
        backend: AzureBackend,
        *,
        results: ResultStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app, self.backend, self.clock = app, backend, clock
        self.executor = Executor(app, results or backend.results, clock=clock)

    def handle(
        self, queue: str, body: bytes, *, dequeue_count: int = 1, message_id: str = ""
    ) -> Outcome:
        """Run one message of task queue ``queue`` (``body`` as the host decoded it) and apply
        its outcome; raises only when the outcome could not be applied."""
        pointer: Pointer | None = None
        envelope_body = body
        if is_pointer(body):
            try:
                pointer = Pointer.parse(body, self.backend.claim_checks.container)
                envelope_body = self.backend.claim_checks.get(pointer)
            except MissingClaimCheck as error:
                missing = DeadLetter(str(error), cause=Cause.PAYLOAD)
                self.poison(queue, body, missing, message_id)
                return missing
        delivery = Delivery(envelope_body, max(1, dequeue_count), queue, message_id)
        outcome = self.executor.process(delivery)
        if isinstance(outcome, Ack):
            if pointer is not None:
                self._drop(pointer)
        elif isinstance(outcome, DeadLetter):
            self.poison(queue, body, outcome, message_id)
        else:
            self.again(queue, body, delivery, outcome, pointer)
        return outcome

    def again(
        self,
        queue: str,
        body: bytes,
        delivery: Delivery,
        outcome: RetryLater,
        pointer: Pointer | None,
    ) -> None:
        """Send the message again after ``outcome.delay`` (see the module docstring)."""
        envelope = decode(delivery.body)  # the executor decoded it already: it is an envelope
        attempt = delivered_attempt(envelope, delivery.receive_count)
        if outcome.cause is Cause.FAILED:
            attempt += 1
        name = self.backend.queue_name(queue)
        ttl = time_to_live(envelope, self.clock())
        if attempt == envelope.attempt:  # unchanged: the same text (the same blob) again
            visibility = visibility_for(outcome.delay, ttl)
            self.backend.put(name, encode(body), visibility=visibility, ttl=ttl)
            return
        self.backend.post(
            name,
            envelope.copy_with(attempt=attempt).encode(),
            delay=outcome.delay,
            ttl=ttl,
            blob=f"{queue}/{envelope.id}",
        )
        if pointer is not None:
            self._drop(pointer)

    def poison(self, queue: str, body: bytes, outcome: DeadLetter, message_id: str) -> None:
        """Move the message (exactly as it came) to its poison queue, then record why."""
        poison = names.poison_queue_name(self.backend.queue_name(queue))
        poison_id = self.backend.put(poison, encode(body), ttl=NEVER)
        log.warning("moved message %s of %s to %s: %s", message_id, queue, poison, outcome.reason)
        from adapters.azure.dead_letters import record_reason

        try:
            record_reason(
                self.backend.entities,
                poison,
                poison_id,
                queue=queue,
                reason=outcome.reason,
                cause=outcome.cause,
                task=outcome.task,
                attempt=outcome.attempt,
                died_at=datetime.fromtimestamp(self.clock(), UTC),
            )
        except Exception:  # the message is safe; `dlq show` says its reason was not recorded
            log.exception("could not record why message %s was poisoned", poison_id)

    def _drop(self, pointer: Pointer) -> None:
        with contextlib.suppress(Exception):  # best effort: an orphan blob only costs storage
            self.backend.claim_checks.delete(pointer)


def delivered_attempt(envelope: Envelope, dequeue_count: int) -> int:
    """The attempt a delivery is: the envelope's, plus the deliveries before it that died
    without an outcome (the executor's rule)."""
    return envelope.attempt + max(0, dequeue_count - 1)
