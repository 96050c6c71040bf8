"""Dead letters in the app's bucket: Cloud Tasks has no dead-letter queue (a task that runs
out of attempts is deleted), so the receiver writes each message it gives up on to
``dead-letters/QUEUE/ID.json`` with its reason, and answers 2xx so Cloud Tasks stops.

``dispatcher dlq`` lists, shows, replays and purges them like every backend's: a replay sends
the envelope back to its queue with a fresh attempt count and a forgotten result, and the
dead letter is deleted only once that send succeeded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dispatcher import dead_letters
from dispatcher.backend import Cause, Outgoing
from dispatcher.envelope import Envelope, utcnow
from dispatcher.errors import UnknownDeadLetter
from dispatcher.operations import DeadLetterEntry

if TYPE_CHECKING:
    from adapters.gcp.producer import GcpBackend

PREFIX = "dead-letters/"


class GcsDeadLetters:
    """:class:`~dispatcher.backend.DeadLetters` kept in GCS for ``backend``'s app."""

    def __init__(self, backend: GcpBackend) -> None:
        self.backend = backend

    @property
    def objects(self) -> Any:
        """The app's bucket."""
        return self.backend.clients.objects

    @staticmethod
    def key(queue: str, message_id: str) -> str:
        """The object of one dead letter."""
        return f"{PREFIX}{queue}/{message_id}.json"

    def put(self, entry: DeadLetterEntry) -> None:
        """Record one dead letter (a message dead-lettered twice keeps the last reason)."""
        document: dict[str, Any] = {
            "id": entry.id,
            "queue": entry.queue,
            "task": entry.task,
            "reason": entry.reason,
            "cause": entry.cause.value if entry.cause else None,
            "attempt": entry.attempt,
            "died_at": (entry.died_at or datetime.now(UTC)).isoformat(),
        }
        try:
            document["body"] = entry.body.decode()
        except UnicodeDecodeError:
            document["body_base64"] = base64.b64encode(entry.body).decode()
        self.objects.write(self.key(entry.queue, entry.id), json.dumps(document).encode())

    def entries(self, queues: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Every dead letter of ``queues`` (all of the app's by default), oldest first."""
        prefixes = [f"{PREFIX}{q}/" for q in queues] if queues is not None else [PREFIX]
        found = []
        for prefix in prefixes:
            for key in self.objects.keys(prefix):
                stored = self.objects.read(key)
                if stored is not None:
                    found.append(_entry(stored.data))
        return sorted(found, key=lambda e: (e.died_at or datetime.min.replace(tzinfo=UTC), e.id))

    def show(self, message_id: str) -> DeadLetterEntry:
        """One dead letter, by message id."""
        for queue in self._queues():
            stored = self.objects.read(self.key(queue, message_id))
            if stored is not None:
                return _entry(stored.data)
        raise UnknownDeadLetter(message_id)

    def replay(self, message_ids: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Send dead letters back to their queues (see the module)."""
        chosen = self._chosen(message_ids)
        for entry in chosen:
            self.backend.resend(self._outgoing(entry))
            self.objects.delete(self.key(entry.queue, entry.id))
        return chosen

    def purge(self, message_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters for good; how many were deleted."""
        chosen = self._chosen(message_ids)
        return sum(self.objects.delete(self.key(e.queue, e.id)) for e in chosen)

    def _chosen(self, message_ids: Sequence[str] | None) -> list[DeadLetterEntry]:
        if message_ids is None:
            return self.entries()
        return dead_letters.choose([self.show(i) for i in dict.fromkeys(message_ids)], message_ids)

    def _queues(self) -> list[str]:
        names = {key.removeprefix(PREFIX).split("/", 1)[0] for key in self.objects.keys(PREFIX)}
        return sorted(set(self.backend.app.queues) | names)

    def _outgoing(self, entry: DeadLetterEntry) -> Outgoing:
        spec = self.backend.app.queues.get(entry.queue)
        timeout = spec.timeout if spec is not None else 60.0
        body = dead_letters.replay_body(entry.body)
        envelope = dead_letters.envelope_of(body)
        if envelope is None:  # sent as it was: it will be dead-lettered again, with reason
            envelope = Envelope(id=entry.id, task=entry.task or "unknown", created_at=utcnow())
        else:
            self.backend.results.forget(envelope.id)
        return Outgoing(envelope, body, entry.queue, timeout=timeout)


def _entry(data: bytes) -> DeadLetterEntry:
    document = json.loads(data)
    body = (
        document["body"].encode()
        if "body" in document
        else base64.b64decode(document.get("body_base64", ""))
    )
    return DeadLetterEntry(
        id=document["id"],
        queue=document["queue"],
        task=document.get("task"),
        reason=document["reason"],
        attempt=document.get("attempt"),
        died_at=datetime.fromisoformat(document["died_at"]) if document.get("died_at") else None,
        body=body,
        cause=Cause(document["cause"]) if document.get("cause") else None,
    )
