"""The producer side: envelopes onto Storage Queues, base64-encoded as the Functions host
expects, delayed through the visibility timeout, sent concurrently in batches, with bodies past
the queue's size limit in Blob storage (claim check).

Azure's rules relied on (Azurite enforces the size, not the others; tests check ours):

* A message may hold 64 KiB after encoding; the visibility timeout on put is 0 to 7 days and
  must fall before the message expires; the time to live is any positive number of seconds,
  or -1 for never (the default, 7 days, would drop waiting messages silently).
  https://learn.microsoft.com/en-us/rest/api/storageservices/put-message
* The Functions queue trigger decodes message text as base64 unless told otherwise, and moves a
  message it cannot decode to the poison queue at once.
  https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue#host-json
  (``messageEncoding``)

A delay past 7 days is sent as 7 days; the function finds the message not yet due and sends it
again with the rest of the delay (a hop), as on AWS. A message with an expiry lives on the queue
until an hour past it (``EXPIRY_GRACE``), so that the function dead-letters it with the reason
rather than Azure dropping it in silence; after that, Azure drops it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.azure import names
from adapters.azure.clients import Clients
from adapters.azure.config import AzureConfig
from adapters.azure.encoding import encode
from adapters.azure.errors import translate, translated
from adapters.azure.payloads import ClaimChecks
from adapters.azure.results import TableResults
from adapters.azure.tables import Entities, SdkEntities
from dispatcher.backend import Outgoing, Receipt, SendFailure, TaskResult
from dispatcher.envelope import new_id
from dispatcher.errors import (
    BackendError,
    BackendNotConfigured,
    BackendUnavailable,
    QueueNotFound,
    Throttled,
    Unsupported,
)

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from adapters.azure.dead_letters import PoisonQueues
    from dispatcher.app import Dispatcher
    from dispatcher.envelope import Envelope
    from dispatcher.operations import QueueStat

#: The largest message text Azure accepts, after encoding: 64 KiB.
MAX_MESSAGE_SIZE = 65_536
#: The longest visibility timeout (and so delay) a put may ask for: 7 days.
MAX_VISIBILITY = 7 * 86_400
#: The time to live of a message that never expires.
NEVER = -1
#: How long a message stays on the queue past its expiry, for the function to dead-letter it.
EXPIRY_GRACE = 3_600
#: How long a dedup key suppresses repeats (as on SQS FIFO and the local backend).
DEDUP_WINDOW = 300.0
#: Messages of a batch sent at once (the SDK's HTTP connection pool holds ten).
SEND_CONCURRENCY = 10


def visibility_for(delay: float, ttl: int) -> int:
    """The visibility timeout of a put: the delay in whole seconds, at most 7 days, and before
    the message expires (Azure refuses a visibility past the time to live)."""
    visibility = min(MAX_VISIBILITY, max(0, math.ceil(delay)))
    if ttl != NEVER:
        visibility = min(visibility, ttl - 1)
    return max(0, visibility)


def time_to_live(envelope: Envelope | None, now: float) -> int:
    """Seconds Azure keeps the message: until ``EXPIRY_GRACE`` past the envelope's expiry,
    else forever (``-1``)."""
    if envelope is None or envelope.expires_at is None:
        return NEVER
    return max(1, math.ceil(envelope.expires_at.timestamp() - now)) + EXPIRY_GRACE


class AzureBackend:
    """:class:`~dispatcher.backend.Backend` on Storage Queues (messages), Table storage
    (results) and Blob storage (large bodies). Names come from :mod:`adapters.azure.names`."""

    def __init__(
        self,
        app: Dispatcher,
        config: AzureConfig,
        *,
        clients: Clients | None = None,
        entities: Entities | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app, self.config, self.clock = app, config, clock
        self.clients = clients or Clients(config)
        self.max_message_size = max_message_size
        self.table = names.table_name(app.name, config.stage)
        self.entities = entities or SdkEntities(self.clients, self.table)
        self.results = TableResults(self.entities, self.table, clock=clock)
        self.claim_checks = ClaimChecks(self.clients, names.container_name(app.name, config.stage))
        self._names: dict[str, str] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<AzureBackend {self.app.name} {self.config.queue_url}>"

    def queue_name(self, queue: str) -> str:
        """The Storage Queue of task queue ``queue`` (its name checked once)."""
        name = self._names.get(queue)
        if name is None:
            name = self._names[queue] = names.queue_name(self.app.name, queue, self.config.stage)
        return name

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: Outgoing) -> Receipt:
        """Put one envelope on its queue (unless its dedup key was sent in the last five
        minutes: the receipt then names the earlier message)."""
        if message.ordered or message.group_key is not None:
            raise Unsupported(
                f"task {message.task!r} is ordered (group_by), but Azure Storage Queues deliver "
                "in no particular order: run ordered tasks on another backend"
            )
        queue = self.queue_name(message.queue)
        duplicate = self._duplicate(message, queue)
        if duplicate is not None:
            return duplicate
        try:
            now = self.clock()
            message_id = self.post(
                queue,
                message.body,
                delay=message.delay,
                ttl=time_to_live(message.envelope, now),
                blob=f"{message.queue}/{message.envelope.id}",
            )
        except Exception:
            self._release(message, queue)
            raise
        return Receipt(message.envelope.id, message_id)

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        """Send every message, ``SEND_CONCURRENCY`` at a time (Storage Queues have no batch
        put); a :class:`SendFailure` for each one that was not sent. When none was sent
        because the queue or the credentials are wrong, that error is raised instead."""
        if len(messages) > 1:
            outcomes = list(self._executor().map(self._attempt, messages))
        else:
            outcomes = [self._attempt(message) for message in messages]
        errors = [error for _, error in outcomes if error is not None]
        nothing_sent = bool(messages) and len(errors) == len(messages)
        if nothing_sent and isinstance(errors[0], QueueNotFound | BackendNotConfigured):
            raise errors[0]
        return [sent for sent, _ in outcomes]

    def _attempt(self, message: Outgoing) -> tuple[Receipt | SendFailure, BackendError | None]:
        try:
            return self.send(message), None
        except BackendError as error:
            retryable = isinstance(error, Throttled | BackendUnavailable)
            return SendFailure(message.envelope.id, str(error), retryable=retryable), error

    def _executor(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(SEND_CONCURRENCY, thread_name_prefix="azure-send")
            return self._pool

    def post(self, queue: str, body: bytes, *, delay: float, ttl: int, blob: str) -> str:
        """Put ``body`` on Storage Queue ``queue``, claim-checked under ``blob/<uuid>.json``
        when its encoded text would be too large; returns the queue's message id."""
        text = encode(body)
        if len(text) > self.max_message_size:
            pointer = self.claim_checks.put(f"{blob}/{new_id()}.json", body)
            text = encode(pointer.body())
        return self.put(queue, text, visibility=visibility_for(delay, ttl), ttl=ttl)

    def put(self, queue: str, text: str, *, visibility: int = 0, ttl: int = NEVER) -> str:
        """Put message text (already encoded) on Storage Queue ``queue``; its message id."""
        try:
            sent = self.clients.queue(queue).send_message(
                text, visibility_timeout=visibility or None, time_to_live=ttl
            )
        except Exception as error:
            mapped = translate(error, f"sending to Storage Queue {queue!r}")
            if isinstance(mapped, QueueNotFound):
                raise QueueNotFound(
                    f"Storage Queue {queue!r} does not exist in account {self.config.account} "
                    "(deploy the app's infrastructure, or run `dispatcher emulate azure APP`)"
                ) from error
            if mapped is None:
                raise
            raise mapped from error
        return str(sent.id)

    def _duplicate(self, message: Outgoing, queue: str) -> Receipt | None:
        key = message.envelope.dedup_key
        if key is None:
            return None
        holder = self.results.hold_key(f"{queue}#{key}", message.envelope.id, DEDUP_WINDOW)
        if holder == message.envelope.id:
            return None
        return Receipt(message.envelope.id, duplicate_of=holder)

    def _release(self, message: Outgoing, queue: str) -> None:
        key = message.envelope.dedup_key
        if key is not None:
            with contextlib.suppress(Exception):  # best effort: the key expires with its window
                self.results.release_key(f"{queue}#{key}", message.envelope.id)

    # --- operations --------------------------------------------------------------------------

    @property
    def dead_letters(self) -> PoisonQueues:
        """The app's poison queues, with the reasons our runtime recorded."""
        from adapters.azure.dead_letters import PoisonQueues

        return PoisonQueues(self)

    def queue_stats(self, queues: Sequence[str]) -> list[QueueStat]:
        """Azure's approximate message count of each queue (it counts delayed and running
        messages too, so ``in_flight`` and ``delayed`` are unknown) and of its poison queue."""
        from dispatcher.operations import QueueStat  # an operator's call

        stats = []
        for queue in queues:
            name = self.queue_name(queue)
            stats.append(
                QueueStat(
                    queue,
                    depth=self._count(name),
                    in_flight=None,
                    delayed=None,
                    dead_letters=self._count(names.poison_queue_name(name), missing=0),
                )
            )
        return stats

    def _count(self, name: str, missing: int | None = None) -> int | None:
        try:
            properties = self.clients.queue(name).get_queue_properties()
        except Exception as error:
            mapped = translate(error, f"counting the messages of Storage Queue {name!r}")
            if isinstance(mapped, QueueNotFound) and missing is not None:
                return missing  # the host creates a poison queue on first use
            if mapped is None:
                raise
            raise mapped from error
        return int(properties.approximate_message_count or 0)

    def knows(self, message_id: str) -> bool | None:
        """``True`` once ``message_id`` has a record; ``None`` before (a Storage Queue cannot
        look a message up by id)."""
        return True if self.results.get(message_id) is not None else None

    def revoke(self, message_id: str, task: str) -> None:
        """Record ``message_id`` as revoked: the function acknowledges it without running it.
        The message itself stays on its queue until then (Azure deletes a message only with
        the pop receipt of a receive, which a delayed or running message cannot give)."""
        now = self.clock()
        self.results.save(TaskResult.revoked(message_id, task, datetime.fromtimestamp(now, UTC)))

    def purge(self, queue: str) -> int | None:
        """Clear task queue ``queue``; Azure's approximate count of what was on it."""
        name = self.queue_name(queue)
        count = self._count(name)
        with translated(f"clearing Storage Queue {name!r}"):
            self.clients.queue(name).clear_messages()
        return count

    def close(self) -> None:
        """Close the clients and the send threads."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.clients.close()
