"""The backend contract: what every adapter implements, and the values that cross it.

A backend is small on purpose, like an httpx transport: the :class:`~dispatcher.app.Dispatcher`
validates, builds and encodes envelopes; a backend only moves the bytes and stores results.

Sending (every backend)
    :meth:`Backend.send` one message, :meth:`Backend.send_many` a batch, each with a delay
    (``Outgoing.delay``) that the backend honours natively or by its own means.

Receiving
    Providers differ here, so the contract is a value, not a loop. Whatever receives a message
    (the local worker, a Lambda poller, a Cloud Run push handler, an Azure host) wraps it in a
    :class:`Delivery`, hands it to :class:`~dispatcher.execution.Executor`, and applies the
    :class:`Outcome` it returns with its own means: :class:`Ack` (delete / HTTP 2xx),
    :class:`RetryLater` (make visible again after ``delay`` / non-2xx), :class:`DeadLetter` (move
    to the dead-letter place with ``reason``). Pull backends also implement :class:`Consumer`.

Results
    ``Backend.results`` is a :class:`ResultStore`; the executor writes to it, task handles read it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from dispatcher.envelope import Envelope


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready to send: the envelope, its encoded bytes, where to and after how long."""

    envelope: Envelope
    body: bytes
    queue: str
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that a message was accepted: the envelope id and the backend's own message id.

    ``duplicate_of`` is set when the backend dropped the message as a duplicate of an earlier
    one with the same dedup key; the handle then follows that earlier message.
    """

    id: str
    backend_id: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class SendFailure:
    """One message of a batch that the backend did not accept, and why."""

    id: str
    reason: str
    retryable: bool = False


# --- receiving -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message as received: raw body plus how many times the backend has delivered it."""

    body: bytes
    receive_count: int = 1
    queue: str = ""
    backend_id: str = ""
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ack:
    """Done: remove the message."""

    kind: Literal["ack"] = "ack"


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Deliver the message again after ``delay`` seconds."""

    delay: float
    reason: str
    kind: Literal["retry"] = "retry"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Never run this message again: move it to the dead-letter place with ``reason``."""

    reason: str
    task: str | None = None
    kind: Literal["dead_letter"] = "dead_letter"


Outcome = Ack | RetryLater | DeadLetter


# --- results ---------------------------------------------------------------------------------


class Status(enum.StrEnum):
    """Where an invocation stands. ``succeeded`` and ``failed`` are final."""

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """True when the invocation will not run again."""
        return self in (Status.SUCCEEDED, Status.FAILED)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """What a result store keeps about one invocation. ``value`` is a JSON value."""

    id: str
    task: str
    status: Status
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    reason: str | None = None
    attempt: int = 1
    root_id: str | None = None
    updated_at: datetime

    def to_json(self) -> str:
        """The record as a JSON object (for stores that keep documents)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["updated_at"] = self.updated_at.isoformat()
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> TaskResult:
        """A record written by :meth:`to_json`."""
        data = json.loads(text)
        data["status"] = Status(data["status"])
        data["updated_at"] = datetime.fromisoformat(data["updated_at"])
        return cls(**data)


class Claim(enum.Enum):
    """The answer of :meth:`ResultStore.claim`."""

    GRANTED = "granted"  # run it
    DONE = "done"  # it already finished: acknowledge without running
    BUSY = "busy"  # another delivery holds a live claim: retry later


@runtime_checkable
class ResultStore(Protocol):
    """Where results and idempotency records live."""

    def get(self, task_id: str) -> TaskResult | None:
        """The latest record for ``task_id``, or ``None``."""
        ...

    def save(self, result: TaskResult) -> None:
        """Record ``result``, replacing the previous record of the same id."""
        ...

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        """Atomically mark ``task_id`` as running for ``lease`` seconds, unless it is final
        (``DONE``) or another delivery holds an unexpired claim (``BUSY``)."""
        ...


# --- the backend -----------------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """Moves encoded envelopes to queues and keeps results. See the module docstring."""

    @property
    def results(self) -> ResultStore:
        """Where this backend's results live."""
        ...

    def send(self, message: Outgoing) -> Receipt:
        """Send one message; raise a :class:`~dispatcher.errors.BackendError` on failure."""
        ...

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        """Send a batch; one entry per message, in order, a :class:`SendFailure` for each
        message that was not accepted (the others are sent)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class Consumer(Protocol):
    """A pull backend's receiving side (the local queue; SQS and Azure Queues poll the same way)."""

    def receive(self, queues: Sequence[str], max_messages: int, wait: float) -> list[Delivery]:
        """Lease up to ``max_messages`` visible messages, waiting up to ``wait`` seconds."""
        ...

    def settle(self, delivery: Delivery, outcome: Outcome) -> None:
        """Apply ``outcome`` to a leased message: delete, make visible later, or dead-letter."""
        ...
