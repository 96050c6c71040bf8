"""What every backend's dead letters share: reading an entry from a stored body, choosing
entries by id, and the body a replay sends."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from dispatcher.backend import Cause
from dispatcher.envelope import Envelope, decode
from dispatcher.errors import InvalidMessage, UnknownDeadLetter
from dispatcher.operations import DeadLetterEntry


def envelope_of(body: bytes) -> Envelope | None:
    """The envelope in a dead-lettered body, or ``None`` when it is not one."""
    try:
        return decode(body)
    except InvalidMessage:
        return None


def entry(
    body: bytes,
    *,
    queue: str,
    reason: str,
    backend_id: str,
    cause: Cause | str | None = None,
    attempt: int | None = None,
    died_at: datetime | None = None,
    task: str | None = None,
) -> DeadLetterEntry:
    """A :class:`DeadLetterEntry` for ``body``: its id and task come from the envelope, or
    from ``backend_id`` and ``task`` when the body is not an envelope."""
    envelope = envelope_of(body)
    return DeadLetterEntry(
        id=envelope.id if envelope else backend_id,
        queue=queue,
        task=envelope.task if envelope else task,
        reason=reason,
        attempt=attempt,
        died_at=died_at,
        body=body,
        cause=_cause(cause),
    )


def _cause(cause: Cause | str | None) -> Cause | None:
    if cause is None or isinstance(cause, Cause):
        return cause
    try:
        return Cause(cause)
    except ValueError:
        return None


def choose(
    entries: Iterable[DeadLetterEntry], message_ids: Sequence[str] | None
) -> list[DeadLetterEntry]:
    """``entries`` with these ids (all when ``None``), in the order asked; an id that is not
    there raises :class:`UnknownDeadLetter` before anything is done."""
    listed = list(entries)
    if message_ids is None:
        return listed
    by_id = {e.id: e for e in listed}
    for message_id in message_ids:
        if message_id not in by_id:
            raise UnknownDeadLetter(message_id)
    return [by_id[m] for m in dict.fromkeys(message_ids)]


def replay_body(body: bytes) -> bytes:
    """What a replay sends: the envelope again from attempt 1. A body that is not an envelope
    goes back as it is (it will be dead-lettered again, with its reason)."""
    envelope = envelope_of(body)
    return body if envelope is None else envelope.copy_with(attempt=1).encode()


__all__ = ["choose", "entry", "envelope_of", "replay_body"]
