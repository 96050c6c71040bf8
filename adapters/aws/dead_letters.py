"""The AWS backend's dead letters: each task queue's SQS dead-letter queue, by message id.

A dead letter the handler sends carries one message attribute, ``dead_letter``: a JSON object
(ASCII only, so SQS accepts any reason text) with the reason, the cause, the attempt, the task
queue and the time. A message moved by SQS's own redrive (the handler never settled it) has
none; it is listed with that as its reason.

Listing reads every message of a DLQ with a short visibility hold and then makes them visible
again. A replay sends the message back to its queue (from attempt 1, its stored result
forgotten) and only then deletes it from the DLQ: an interrupted replay can leave a copy in
both places, never in neither.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapters.aws.errors import translated
from adapters.aws.payloads import ATTRIBUTE as CLAIM_CHECK_ATTRIBUTE
from adapters.aws.payloads import MissingClaimCheck, Pointer
from dispatcher import dead_letters
from dispatcher.backend import Outgoing
from dispatcher.operations import DeadLetterEntry

if TYPE_CHECKING:
    from adapters.aws.producer import AwsBackend

#: The message attribute a dead letter carries (a JSON object, see the module docstring).
ATTRIBUTE = "dead_letter"
#: SQS accepts at most 10 message attributes on a message.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
MAX_ATTRIBUTES = 10
#: Seconds a listing keeps the messages it read invisible before it gives them back.
HOLD = 30
_MAX_REASON = 4_000
#: Attributes kept first when a dead letter would carry too many.
_ESSENTIAL = (CLAIM_CHECK_ATTRIBUTE, "task", "traceparent")


@dataclass(frozen=True, slots=True)
class Note:
    """What the ``dead_letter`` attribute says."""

    reason: str
    cause: str | None
    attempt: int | None
    queue: str
    at: float

    def encode(self) -> str:
        """JSON, ASCII only: every character is one SQS accepts in an attribute value."""
        data = {
            "reason": self.reason[:_MAX_REASON],
            "cause": self.cause,
            "attempt": self.attempt,
            "queue": self.queue,
            "at": round(self.at, 3),
        }
        return json.dumps(data, ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Note | None:
        """The note in an attribute value, or ``None`` when it is not one."""
        try:
            data = json.loads(text)
            return cls(
                reason=str(data["reason"]),
                cause=None if data.get("cause") is None else str(data["cause"]),
                attempt=None if data.get("attempt") is None else int(data["attempt"]),
                queue=str(data["queue"]),
                at=float(data["at"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


def dead_letter_attributes(
    attributes: Mapping[str, dict[str, str]], note: Note
) -> dict[str, dict[str, str]]:
    """The attributes a dead letter is sent with: the message's own (those SQS allows, the
    claim check and task first) plus the note, never more than SQS's ten."""
    kept = [name for name in _ESSENTIAL if name in attributes]
    kept += [name for name in attributes if name not in kept and name != ATTRIBUTE]
    chosen = {name: dict(attributes[name]) for name in kept[: MAX_ATTRIBUTES - 1]}
    chosen[ATTRIBUTE] = {"DataType": "String", "StringValue": note.encode()}
    return chosen


@dataclass(frozen=True)
class _Held:
    """A DLQ message read by a listing, with what it takes to delete or release it."""

    entry: DeadLetterEntry
    url: str
    receipt: str
    attributes: dict[str, dict[str, str]]
    raw_body: str


class SqsDeadLetters:
    """:class:`~dispatcher.backend.DeadLetters` on the app's SQS dead-letter queues."""

    def __init__(self, backend: AwsBackend) -> None:
        self.backend = backend

    def entries(self, queues: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Every dead letter of ``queues`` (all the app's queues when ``None``)."""
        with self._held(queues) as held:
            return [h.entry for h in held]

    def show(self, message_id: str) -> DeadLetterEntry:
        [found] = dead_letters.choose(self.entries(), [message_id])
        return found

    def replay(self, message_ids: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Back to their queues from attempt 1; each is deleted from its DLQ once sent."""
        with self._held(None) as held:
            by_id = {h.entry.id: h for h in held}
            chosen = dead_letters.choose((h.entry for h in held), message_ids)
            for letter in chosen:
                self._replay_one(by_id[letter.id])
                self._delete(by_id[letter.id])
                held.remove(by_id[letter.id])
        return chosen

    def purge(self, message_ids: Sequence[str] | None = None) -> int:
        """Delete them from their DLQs for good."""
        with self._held(None) as held:
            by_id = {h.entry.id: h for h in held}
            chosen = dead_letters.choose((h.entry for h in held), message_ids)
            for letter in chosen:
                self._delete(by_id[letter.id])
                held.remove(by_id[letter.id])
        return len(chosen)

    # --- the parts -----------------------------------------------------------------------

    def _held(self, queues: Sequence[str] | None) -> _Holding:
        return _Holding(self, list(queues) if queues is not None else list(self.backend.app.queues))

    def _dead_letter_url(self, queue: str) -> str:
        ordered = self.backend.target(queue).ordered
        return self.backend.queue_url(self.backend.names.dead_letter_queue(queue, ordered))

    def _read(self, queue: str) -> list[_Held]:
        url = self._dead_letter_url(queue)
        sqs = self.backend.clients.sqs
        found: list[_Held] = []
        while True:
            with translated(f"reading dead letters of {queue!r}"):
                messages = (
                    sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=10,
                        VisibilityTimeout=HOLD,
                        WaitTimeSeconds=0,
                        MessageAttributeNames=["All"],
                        MessageSystemAttributeNames=["All"],
                    ).get("Messages")
                    or []
                )
            if not messages:
                return found
            found += [self._held_message(queue, url, m) for m in messages]

    def _held_message(self, queue: str, url: str, message: Mapping[str, Any]) -> _Held:
        attributes = {
            name: {"DataType": str(v.get("DataType", "String")), "StringValue": v["StringValue"]}
            for name, v in (message.get("MessageAttributes") or {}).items()
            if "StringValue" in v
        }
        raw: str = message["Body"]
        body = raw.encode()
        check = attributes.get(CLAIM_CHECK_ATTRIBUTE)
        if check is not None:
            with contextlib.suppress(ValueError, MissingClaimCheck):  # else shown as it is
                body = self.backend.claim_checks.get(Pointer.parse(check["StringValue"]))
        note = Note.decode(attributes.get(ATTRIBUTE, {}).get("StringValue", ""))
        sent = float((message.get("Attributes") or {}).get("SentTimestamp", "0")) / 1000
        entry = dead_letters.entry(
            body,
            queue=queue,
            reason=note.reason if note else "moved by SQS's redrive policy: never settled",
            backend_id=str(message["MessageId"]),
            cause=note.cause if note else None,
            attempt=note.attempt if note else None,
            died_at=datetime.fromtimestamp(note.at if note else sent, UTC),
            task=attributes.get("task", {}).get("StringValue"),
        )
        return _Held(entry, url, str(message["ReceiptHandle"]), attributes, raw)

    def _replay_one(self, held: _Held) -> None:
        backend, letter = self.backend, held.entry
        body = dead_letters.replay_body(letter.body)
        envelope = dead_letters.envelope_of(body)
        target = backend.target(letter.queue)
        backend.results.forget(letter.id)
        if envelope is None:  # not ours: back as it was, to be dead-lettered with its reason
            kept = {k: v for k, v in held.attributes.items() if k != ATTRIBUTE}
            entry: dict[str, Any] = {"MessageBody": held.raw_body, "MessageAttributes": kept}
            if target.ordered:
                entry["MessageGroupId"] = letter.id
        else:
            spec = backend.app.queues.get(letter.queue)
            outgoing = Outgoing(
                envelope,
                body,
                letter.queue,
                ordered=target.ordered,
                timeout=spec.timeout if spec else 60.0,
            )
            entry = backend.entry(outgoing, target)
        if target.ordered:  # a fresh id: SQS would drop a copy of the first send as a duplicate
            entry["MessageDeduplicationId"] = f"replay-{int(time.time() * 1000)}-{letter.id}"[:128]
        with translated(f"replaying {letter.id} to {target.name!r}"):
            backend.clients.sqs.send_message(QueueUrl=target.url, **entry)

    def _delete(self, held: _Held) -> None:
        with translated(f"deleting dead letter {held.entry.id}"):
            self.backend.clients.sqs.delete_message(QueueUrl=held.url, ReceiptHandle=held.receipt)


class _Holding:
    """Reads the DLQs of some queues, holding their messages; gives back on exit whatever was
    not deleted, so the next reader sees it at once."""

    def __init__(self, letters: SqsDeadLetters, queues: list[str]) -> None:
        self.letters, self.queues = letters, queues
        self.held: list[_Held] = []

    def __enter__(self) -> list[_Held]:
        try:
            for queue in self.queues:
                self.held += self.letters._read(queue)
        except BaseException:
            self._release()
            raise
        return self.held

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        sqs = self.letters.backend.clients.sqs
        for url, chunk in _chunks(self.held):
            with contextlib.suppress(Exception):  # else they come back after HOLD seconds
                sqs.change_message_visibility_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": h.receipt, "VisibilityTimeout": 0}
                        for i, h in enumerate(chunk)
                    ],
                )


def _chunks(held: list[_Held]) -> Iterator[tuple[str, list[_Held]]]:
    by_url: dict[str, list[_Held]] = {}
    for h in held:
        by_url.setdefault(h.url, []).append(h)
    for url, items in by_url.items():
        for start in range(0, len(items), 10):
            yield url, items[start : start + 10]


__all__ = ["ATTRIBUTE", "Note", "SqsDeadLetters", "dead_letter_attributes"]
