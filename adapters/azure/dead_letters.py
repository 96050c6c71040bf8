"""Dead letters on Azure: the poison queues (``<queue>-poison``), where both our runtime and
the Functions host put the messages they give up on, so that operators find them where Azure
puts them.

A poison message is the original message text, exactly (as the host's own copies are). When our
runtime moves a message it also records why, in the results table: partition
``poison-<poison queue>``, row ``<poison message id>``, with the reason, the typed cause, the
task, the attempt and the time. A message the host moved itself has no such record; ``show``
then says what can be known: text that is not base64 was moved at once because the host could
not decode it; anything else was moved after ``maxDequeueCount`` failed deliveries (the
function's process died or timed out, or it could not reach storage).

Listing needs a receive (a peek sees at most 32 messages), so ``entries`` and ``show`` hide the
poison messages for a moment and then make them visible again; ``replay`` and ``purge`` delete
with the receive's pop receipt.
https://learn.microsoft.com/en-us/rest/api/storageservices/get-messages (at most 32 a call)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters.azure import names
from adapters.azure.encoding import NotBase64, decode
from adapters.azure.errors import translate, translated
from adapters.azure.payloads import MissingClaimCheck, Pointer, is_pointer
from adapters.azure.producer import time_to_live
from dispatcher.backend import Cause
from dispatcher.dead_letters import envelope_of, replay_body
from dispatcher.envelope import Envelope
from dispatcher.errors import QueueNotFound, UnknownDeadLetter
from dispatcher.operations import DeadLetterEntry

if TYPE_CHECKING:
    from adapters.azure.producer import AzureBackend
    from adapters.azure.tables import Entities

#: Seconds a listing hides the poison messages it reads (they are made visible right after).
SCAN_VISIBILITY = 30
#: Messages per receive (Azure's maximum).
PAGE = 32
#: The longest reason recorded (a Table string property holds 32 Ki characters).
MAX_REASON = 8_000
NOT_BASE64 = (
    "not base64: the Functions host moves a message it cannot decode to the poison queue "
    "at once (messageEncoding base64)"
)
NO_REASON = (
    "no reason recorded: moved by the Functions host after maxDequeueCount failed "
    "deliveries (the function's process died or timed out, or it could not reach storage)"
)


def reason_partition(poison_queue: str) -> str:
    """The table partition of the reasons recorded for ``poison_queue``."""
    return f"poison-{poison_queue}"


def record_reason(
    entities: Entities,
    poison_queue: str,
    poison_id: str,
    *,
    queue: str,
    reason: str,
    cause: Cause | None,
    task: str | None,
    attempt: int | None,
    died_at: datetime,
) -> None:
    """Record why message ``poison_id`` of ``poison_queue`` (from task queue ``queue``) is
    there."""
    entity: dict[str, Any] = {
        "PartitionKey": reason_partition(poison_queue),
        "RowKey": poison_id,
        "queue": queue,
        "reason": reason[:MAX_REASON],
        "died_at": died_at.isoformat(),
    }
    if cause is not None:
        entity["cause"] = cause.value
    if task is not None:
        entity["task"] = task
    if attempt is not None:
        entity["attempt"] = attempt
    entities.replace(entity)


@dataclass
class _Held:
    """A poison message received (hidden) for a moment: its entry and how to delete it."""

    entry: DeadLetterEntry
    message: Any
    poison: str
    text: str
    pointer: Pointer | None
    envelope: Envelope | None
    deleted: bool = False


class PoisonQueues:
    """:class:`~dispatcher.backend.DeadLetters` over the app's poison queues."""

    def __init__(self, backend: AzureBackend) -> None:
        self.backend = backend

    def entries(self, queues: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Every poison message of ``queues`` (all the app's queues by default), oldest
        first, with its reason."""
        with self._holding(queues) as held:
            return [h.entry for h in held]

    def show(self, message_id: str) -> DeadLetterEntry:
        """The poison message with this id (the envelope's, else the queue's message id)."""
        with self._holding(None) as held:
            for h in held:
                if message_id in (h.entry.id, h.message.id):
                    return h.entry
        raise UnknownDeadLetter(message_id)

    def replay(self, message_ids: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Send poison messages back to their queues, envelopes with a fresh attempt count and
        their results forgotten; each leaves its poison queue once it was sent."""
        replayed = []
        with self._holding(None) as held:
            chosen = _choose(held, message_ids)
            for h in chosen:
                self._replay(h)
                self._delete(h)
                replayed.append(h.entry)
        return replayed

    def purge(self, message_ids: Sequence[str] | None = None) -> int:
        """Delete poison messages (these, or all) and what they point at; how many."""
        with self._holding(None) as held:
            chosen = _choose(held, message_ids)
            for h in chosen:
                self._delete(h)
                if h.pointer is not None:
                    with contextlib.suppress(Exception):
                        self.backend.claim_checks.delete(h.pointer)
        return len(chosen)

    # --- the parts ---------------------------------------------------------------------------

    def _replay(self, held: _Held) -> None:
        queue = names.source_of_poison_queue(held.poison)
        if held.envelope is None:  # not an envelope: back exactly as it was
            self.backend.put(queue, held.text)
            return
        envelope = held.envelope
        self.backend.results.forget(envelope.id)
        self.backend.post(
            queue,
            replay_body(held.entry.body),  # the envelope again, from attempt 1
            delay=0,
            ttl=time_to_live(envelope, self.backend.clock()),
            blob=f"{held.entry.queue}/{envelope.id}",
        )
        if held.pointer is not None:
            with contextlib.suppress(Exception):
                self.backend.claim_checks.delete(held.pointer)

    def _delete(self, held: _Held) -> None:
        with translated(f"deleting a message from Storage Queue {held.poison!r}"):
            self.backend.clients.queue(held.poison).delete_message(held.message)
        held.deleted = True
        with contextlib.suppress(Exception):  # an orphan reason is harmless
            self.backend.entities.delete(reason_partition(held.poison), held.message.id)

    @contextmanager
    def _holding(self, queues: Sequence[str] | None) -> Iterator[list[_Held]]:
        """Receive every poison message of ``queues``; make the ones left visible again."""
        held: list[_Held] = []
        try:
            for queue in queues if queues is not None else list(self.backend.app.queues):
                poison = names.poison_queue_name(self.backend.queue_name(queue))
                reasons = {
                    str(e["RowKey"]): e
                    for e in self.backend.entities.partition(reason_partition(poison))
                }
                for message in self._receive(poison):
                    held.append(self._held(queue, poison, message, reasons))
            held.sort(key=lambda h: h.message.inserted_on or datetime.min)
            yield held
        finally:
            for h in (h for h in held if not h.deleted):
                with contextlib.suppress(Exception):  # it shows up anyway after the scan
                    self.backend.clients.queue(h.poison).update_message(
                        h.message, visibility_timeout=0
                    )

    def _receive(self, poison: str) -> list[Any]:
        client = self.backend.clients.queue(poison)
        try:
            return list(
                client.receive_messages(messages_per_page=PAGE, visibility_timeout=SCAN_VISIBILITY)
            )
        except Exception as error:
            mapped = translate(error, f"reading Storage Queue {poison!r}")
            if isinstance(mapped, QueueNotFound):
                return []  # the host creates a poison queue when it first needs one
            if mapped is None:
                raise
            raise mapped from error

    def _held(self, queue: str, poison: str, message: Any, reasons: dict[str, Any]) -> _Held:
        text = str(message.content or "")
        recorded = reasons.get(str(message.id))
        pointer: Pointer | None = None
        envelope: Envelope | None = None
        cause: Cause | None
        try:
            body = decode(text)
        except NotBase64:
            body = text.encode()
            reason, cause = NOT_BASE64, Cause.MALFORMED
        else:
            reason, cause = NO_REASON, None
            resolved = body
            if is_pointer(body):
                with contextlib.suppress(MissingClaimCheck):
                    pointer = Pointer.parse(body, self.backend.claim_checks.container)
                    resolved = self.backend.claim_checks.get(pointer)
            envelope = envelope_of(resolved)
            body = resolved
        if recorded is not None:
            reason = str(recorded.get("reason") or reason)
            cause = Cause(recorded["cause"]) if recorded.get("cause") else cause
        died = recorded.get("died_at") if recorded is not None else None
        entry = DeadLetterEntry(
            id=envelope.id if envelope is not None else str(message.id),
            queue=queue,
            task=envelope.task if envelope is not None else _text(recorded, "task"),
            reason=reason,
            attempt=_attempt(recorded, envelope),
            died_at=datetime.fromisoformat(str(died)) if died else message.inserted_on,
            body=body,
            cause=cause,
        )
        return _Held(entry, message, poison, text, pointer, envelope)


def _choose(held: list[_Held], message_ids: Sequence[str] | None) -> list[_Held]:
    """The held messages named by ``message_ids`` (all when ``None``); an unknown id raises
    before anything is done."""
    if message_ids is None:
        return held
    known = {h.entry.id for h in held} | {str(h.message.id) for h in held}
    for message_id in message_ids:
        if message_id not in known:
            raise UnknownDeadLetter(message_id)
    wanted = set(message_ids)
    return [h for h in held if h.entry.id in wanted or str(h.message.id) in wanted]


def _text(recorded: Any, name: str) -> str | None:
    value = recorded.get(name) if recorded is not None else None
    return None if value is None else str(value)


def _attempt(recorded: Any, envelope: Envelope | None) -> int | None:
    if recorded is not None and recorded.get("attempt") is not None:
        return int(recorded["attempt"])
    return envelope.attempt if envelope is not None else None


__all__ = ["NOT_BASE64", "NO_REASON", "PoisonQueues", "record_reason"]
