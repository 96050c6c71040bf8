"""faas-dispatcher: a task queue whose workers are cloud functions.

>>> from dispatcher import Dispatcher, Retry
>>> app = Dispatcher("shop", backend="memory")
>>> @app.task(queue="payments", retry=Retry(attempts=5))
... def charge(order_id: int, amount_cents: int) -> str:
...     return f"ch_{order_id}"
"""

from dispatcher.app import Dispatcher, QueueSpec
from dispatcher.backend import (
    Ack,
    Backend,
    Claim,
    Consumer,
    DeadLetter,
    Delivery,
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
    MissingDependency,
    NonRetryable,
    QueueNotFound,
    ResultTimeout,
    TaskFailed,
    TaskTimedOut,
    Throttled,
    UnknownTask,
    UnsupportedEnvelopeVersion,
)
from dispatcher.execution import Executor
from dispatcher.options import RateLimit, TaskOptions
from dispatcher.retry import Retry
from dispatcher.task import AsyncTask, SyncTask, Task, TaskHandle

__all__ = [
    "Ack",
    "AsyncTask",
    "Backend",
    "BackendError",
    "BackendNotConfigured",
    "BackendUnavailable",
    "BatchSendError",
    "Claim",
    "Consumer",
    "DeadLetter",
    "Delivery",
    "Dispatcher",
    "DispatcherError",
    "DuplicateTask",
    "Envelope",
    "EnvelopeTooLarge",
    "Executor",
    "InvalidArguments",
    "InvalidMessage",
    "InvalidTaskOption",
    "MalformedMessage",
    "MissingDependency",
    "NonRetryable",
    "Outcome",
    "Outgoing",
    "QueueNotFound",
    "QueueSpec",
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
    "TaskTimedOut",
    "Throttled",
    "UnknownTask",
    "UnsupportedEnvelopeVersion",
    "current",
    "decode",
]
