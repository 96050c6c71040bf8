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
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Literal,
    NamedTuple,
    Protocol,
    runtime_checkable,
)

from dispatcher.records import Record, setattr_

if TYPE_CHECKING:
    from dispatcher.envelope import Envelope


# --- sending ---------------------------------------------------------------------------------


class Outgoing(Record):
    """A message ready to send: the envelope, its encoded bytes, where to and after how long,
    and what a backend needs to know of its task without reading the app: whether its queue
    is ``ordered``, the task's ``timeout`` (s), and its ordering group and dedup keys."""

    FIELDS = ("envelope", "body", "queue", "delay", "ordered", "timeout")
    __slots__ = FIELDS
    envelope: Envelope
    body: bytes
    queue: str
    delay: float
    ordered: bool
    timeout: float

    def __init__(
        self,
        envelope: Envelope,
        body: bytes,
        queue: str,
        delay: float = 0.0,
        ordered: bool = False,
        timeout: float = 60.0,
    ) -> None:
        setattr_(self, "envelope", envelope)
        setattr_(self, "body", body)
        setattr_(self, "queue", queue)
        setattr_(self, "delay", delay)
        setattr_(self, "ordered", ordered)
        setattr_(self, "timeout", timeout)

    @property
    def task(self) -> str:
        """The task's name."""
        return self.envelope.task

    @property
    def group_key(self) -> str | None:
        """The ordering group (``None`` for unordered tasks)."""
        return self.envelope.group_key

    @property
    def dedup_key(self) -> str | None:
        """The dedup key: a repeat within the backend's window is dropped."""
        return self.envelope.dedup_key


class Receipt(NamedTuple):
    """Proof that a message was accepted: the envelope id and the backend's own message id.

    ``duplicate_of`` is set when the backend dropped the message as a duplicate of an earlier
    one with the same dedup key; the handle then follows that earlier message.
    """

    id: str
    backend_id: str | None = None
    duplicate_of: str | None = None


class SendFailure(NamedTuple):
    """One message of a batch that the backend did not accept, and why."""

    id: str
    reason: str
    retryable: bool = False


# --- receiving -------------------------------------------------------------------------------


class Delivery(Record):
    """A message as received: raw body plus how many times the backend has delivered it."""

    FIELDS: ClassVar[tuple[str, ...]] = ("body", "receive_count", "queue", "backend_id", "meta")
    __slots__ = FIELDS
    body: bytes
    receive_count: int
    queue: str
    backend_id: str
    meta: dict[str, str]

    def __init__(
        self,
        body: bytes,
        receive_count: int = 1,
        queue: str = "",
        backend_id: str = "",
        meta: dict[str, str] | None = None,
    ) -> None:
        setattr_(self, "body", body)
        setattr_(self, "receive_count", receive_count)
        setattr_(self, "queue", queue)
        setattr_(self, "backend_id", backend_id)
        setattr_(self, "meta", {} if meta is None else meta)


class Cause(enum.StrEnum):
    """Why an outcome is what it is. Receivers decide on the cause, never on the reason's
    text (which is for people)."""

    # RetryLater
    NOT_DUE = "not_due"  # its eta is still ahead: deliver it when due, it has not run
    BUSY = "busy"  # another delivery holds the idempotency claim: look again later
    NO_TIME = "no_time"  # too little of the invocation's time was left to start it: not run
    FAILED = "failed"  # the task raised a retryable error: retry after the backoff
    # DeadLetter
    MALFORMED = "malformed"  # not an envelope (not JSON, wrong version, a bad field)
    UNKNOWN_TASK = "unknown_task"  # names a task this app does not have
    INVALID_ARGUMENTS = "invalid_arguments"  # the arguments fail the task's type hints
    EXPIRED = "expired"  # it was not run before its expiry
    NON_RETRYABLE = "non_retryable"  # the task raised NonRetryable or a never_retry error
    NOT_RETRIED = "not_retried"  # the error is not in the task's retry_on
    EXHAUSTED = "exhausted"  # it failed on every one of its attempts
    PAYLOAD = "payload"  # its claim-checked body is missing or not in the app's own store
    REFUSED = "refused"  # a middleware refused to run it


class Ack(NamedTuple):
    """Done: remove the message."""

    kind: Literal["ack"] = "ack"


class RetryLater(NamedTuple):
    """Deliver the message again after ``delay`` seconds; ``cause`` says why."""

    delay: float
    reason: str
    cause: Cause = Cause.FAILED
    kind: Literal["retry"] = "retry"


class DeadLetter(NamedTuple):
    """Never run this message again: move it to the dead-letter place with ``reason``."""

    reason: str
    task: str | None = None
    cause: Cause = Cause.MALFORMED
    attempt: int | None = None
    kind: Literal["dead_letter"] = "dead_letter"


Outcome = Ack | RetryLater | DeadLetter


# --- results ---------------------------------------------------------------------------------


class Status(enum.StrEnum):
    """Where an invocation stands. ``succeeded``, ``failed`` and ``revoked`` are final."""

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVOKED = "revoked"

    @property
    def final(self) -> bool:
        """True when the invocation will not run again."""
        return self in (Status.SUCCEEDED, Status.FAILED, Status.REVOKED)


class TaskResult(Record):
    """What a result store keeps about one invocation. ``value`` is a JSON value."""

    FIELDS = (
        "id",
        "task",
        "status",
        "value",
        "error_type",
        "error_message",
        "traceback",
        "reason",
        "attempt",
        "root_id",
        "updated_at",
    )
    __slots__ = FIELDS
    id: str
    task: str
    status: Status
    value: Any
    error_type: str | None
    error_message: str | None
    traceback: str | None
    reason: str | None
    attempt: int
    root_id: str | None
    updated_at: datetime

    def __init__(
        self,
        *,
        id: str,
        task: str,
        status: Status,
        value: Any = None,
        error_type: str | None = None,
        error_message: str | None = None,
        traceback: str | None = None,
        reason: str | None = None,
        attempt: int = 1,
        root_id: str | None = None,
        updated_at: datetime,
    ) -> None:
        setattr_(self, "id", id)
        setattr_(self, "task", task)
        setattr_(self, "status", status)
        setattr_(self, "value", value)
        setattr_(self, "error_type", error_type)
        setattr_(self, "error_message", error_message)
        setattr_(self, "traceback", traceback)
        setattr_(self, "reason", reason)
        setattr_(self, "attempt", attempt)
        setattr_(self, "root_id", root_id)
        setattr_(self, "updated_at", updated_at)

    @classmethod
    def revoked(cls, message_id: str, task: str, at: datetime) -> TaskResult:
        """The mark ``dispatcher revoke`` leaves: a worker acknowledges the message unrun."""
        return cls(id=message_id, task=task, status=Status.REVOKED, reason="revoked", updated_at=at)

    def to_json(self) -> str:
        """The record as a JSON object (for stores that keep documents)."""
        data = {name: getattr(self, name) for name in self.FIELDS}
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


class Granted(NamedTuple):
    """A granted claim from a store that counts runs in its claim records: ``attempt`` is the
    number of the run that starts now (one more than the last run's, or the attempt the
    executor passed when the invocation never ran). Stores that do not count runs answer
    :attr:`Claim.GRANTED`, and the executor numbers attempts by deliveries."""

    attempt: int


@runtime_checkable
class ResultStore(Protocol):
    """Where results and idempotency records live."""

    def get(self, task_id: str) -> TaskResult | None:
        """The latest record for ``task_id``, or ``None``."""
        ...

    def save(self, result: TaskResult) -> None:
        """Record ``result``, replacing the previous record of the same id (a store may keep
        a final record rather than replace it: the first final result stands)."""
        ...

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim | Granted:
        """Atomically mark ``task_id`` as running for ``lease`` seconds, unless it is final
        (``DONE``) or another delivery holds an unexpired claim (``BUSY``). A store that
        counts runs answers :class:`Granted` with the attempt's number instead of
        ``GRANTED``."""
        ...

    def forget(self, task_id: str) -> None:
        """Drop the record of ``task_id`` (a replayed dead letter runs afresh)."""
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
