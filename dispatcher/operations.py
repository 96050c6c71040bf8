"""What an operator may ask of any backend, beyond sending and receiving: its dead letters,
its queues' counts, cancelling and purging, and whether it ever held a message. The CLI knows
only these protocols; each provider implements those its platform allows.

(Apart from :mod:`dispatcher.backend` so that a function's cold start, which sends and
receives, does not create them.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

from dispatcher.backend import Cause


class DeadLetterEntry(NamedTuple):
    """One dead-lettered message as ``dispatcher dlq`` shows it.

    ``id`` is the message's id (the envelope's, or the backend's own for a body that is not
    an envelope): what ``show``, ``replay`` and ``purge`` take. ``queue`` is the task queue it
    came from; ``body`` the message exactly as it was received.
    """

    id: str
    queue: str
    task: str | None
    reason: str
    attempt: int | None
    died_at: datetime | None
    body: bytes
    cause: Cause | None = None


@runtime_checkable
class DeadLetters(Protocol):
    """A backend's dead-letter place: list (``entries``), show, replay and purge, by message id."""

    def entries(self, queues: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Every dead letter (of ``queues``, or of all the app's queues), oldest first."""
        ...

    def show(self, message_id: str) -> DeadLetterEntry:
        """One dead letter; :class:`~dispatcher.errors.UnknownDeadLetter` if there is none."""
        ...

    def replay(self, message_ids: Sequence[str] | None = None) -> list[DeadLetterEntry]:
        """Send dead letters (these, or all) back to their source queues with a fresh attempt
        count and a cleared result; each leaves the dead letters only once its send
        succeeded. An unknown id raises :class:`~dispatcher.errors.UnknownDeadLetter` before
        anything is replayed."""
        ...

    def purge(self, message_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters (these, or all) for good; how many were deleted."""
        ...


class QueueStat(NamedTuple):
    """One queue's counts; ``None`` where the backend cannot tell. ``depth`` counts messages
    ready to run, ``in_flight`` those being run, ``delayed`` those not due yet."""

    queue: str
    depth: int | None
    in_flight: int | None
    delayed: int | None
    dead_letters: int | None


@runtime_checkable
class QueueStats(Protocol):
    """A backend that can count its queues' messages."""

    def queue_stats(self, queues: Sequence[str]) -> list[QueueStat]:
        """The counts of each of ``queues`` (task queue names), in that order."""
        ...


@runtime_checkable
class HasDeadLetters(Protocol):
    """A backend with a dead-letter place (``backend.dead_letters``)."""

    @property
    def dead_letters(self) -> DeadLetters:
        """The backend's dead letters."""
        ...


@runtime_checkable
class QueueControl(Protocol):
    """A backend that can cancel one message and empty a queue."""

    def revoke(self, message_id: str, task: str) -> None:
        """Make sure ``message_id`` (of ``task``) never runs: a ``revoked`` result is recorded,
        which every receiver honours (it acknowledges without running), and the message is
        deleted from its queue where the provider allows it."""
        ...

    def purge(self, queue: str) -> int | None:
        """Delete every message waiting on task queue ``queue``; how many, where known."""
        ...


@runtime_checkable
class MessageLookup(Protocol):
    """A backend that can tell whether it ever held a message."""

    def knows(self, message_id: str) -> bool | None:
        """Whether ``message_id`` was ever sent here (queued, run or dead-lettered);
        ``None`` when the backend cannot tell."""
        ...
