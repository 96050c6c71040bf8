"""faas-dispatcher: a task queue whose workers are cloud functions.

>>> from dispatcher import Dispatcher, Retry
>>> app = Dispatcher("shop", backend="memory")
>>> @app.task(queue="payments", retry=Retry(attempts=5))
... def charge(order_id: int, amount_cents: int) -> str:
...     return f"ch_{order_id}"
"""

from typing import TYPE_CHECKING, Any

from dispatcher.app import Dispatcher, QueueSpec
from dispatcher.backend import (
    Ack,
    Backend,
    Cause,
    Claim,
    Consumer,
    DeadLetter,
    Delivery,
    Granted,
    Outcome,
    Outgoing,
    Receipt,
    ResultStore,
    RetryLater,
    SendFailure,
    Status,
    TaskResult,
)
from dispatcher.context import TaskContext, current
from dispatcher.envelope import Envelope, decode
from dispatcher.errors import (
    BackendError,
    BackendNotConfigured,
    BackendUnavailable,
    BatchSendError,
    DispatcherError,
    DuplicateTask,
    EnvelopeTooLarge,
    InvalidArguments,
    InvalidMessage,
    InvalidTaskOption,
    MalformedMessage,
    MessageRefused,
    MissingDependency,
    NonRetryable,
    QueueNotFound,
    ResultTimeout,
    TaskFailed,
    TaskRevoked,
    TaskTimedOut,
    Throttled,
    UnknownDeadLetter,
    UnknownTask,
    Unsupported,
    UnsupportedEnvelopeVersion,
)
from dispatcher.execution import Executor
from dispatcher.middleware import Middleware
from dispatcher.options import RateLimit, TaskOptions
from dispatcher.retry import Retry
from dispatcher.task import AsyncTask, SyncTask, Task, TaskHandle

if TYPE_CHECKING:
    from dispatcher.operations import (
        DeadLetterEntry,
        DeadLetters,
        MessageLookup,
        QueueControl,
        QueueStat,
        QueueStats,
    )

#: Names exported lazily: what operators use, which a function's cold start never needs.
_OPERATIONS = frozenset(
    {"DeadLetterEntry", "DeadLetters", "MessageLookup", "QueueControl", "QueueStat", "QueueStats"}
)


def __getattr__(name: str) -> Any:
    if name in _OPERATIONS:
        from dispatcher import operations

        return getattr(operations, name)
    raise AttributeError(f"module 'dispatcher' has no attribute {name!r}")


__all__ = [
    "Ack",
    "AsyncTask",
    "Backend",
    "BackendError",
    "BackendNotConfigured",
    "BackendUnavailable",
    "BatchSendError",
    "Cause",
    "Claim",
    "Consumer",
    "DeadLetter",
    "DeadLetterEntry",
    "DeadLetters",
    "Delivery",
    "Dispatcher",
    "DispatcherError",
    "DuplicateTask",
    "Envelope",
    "EnvelopeTooLarge",
    "Executor",
    "Granted",
    "InvalidArguments",
    "InvalidMessage",
    "InvalidTaskOption",
    "MalformedMessage",
    "MessageLookup",
    "MessageRefused",
    "Middleware",
    "MissingDependency",
    "NonRetryable",
    "Outcome",
    "Outgoing",
    "QueueControl",
    "QueueNotFound",
    "QueueSpec",
    "QueueStat",
    "QueueStats",
    "RateLimit",
    "Receipt",
    "ResultStore",
    "ResultTimeout",
    "Retry",
    "RetryLater",
    "SendFailure",
    "Status",
    "SyncTask",
    "Task",
    "TaskContext",
    "TaskFailed",
    "TaskHandle",
    "TaskOptions",
    "TaskResult",
    "TaskRevoked",
    "TaskTimedOut",
    "Throttled",
    "UnknownDeadLetter",
    "UnknownTask",
    "Unsupported",
    "UnsupportedEnvelopeVersion",
    "current",
    "decode",
]
