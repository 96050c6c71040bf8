"""The typed errors faas-dispatcher raises. Every message names the thing that is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.backend import SendFailure


class DispatcherError(Exception):
    """Base class of every error raised by faas-dispatcher."""


# --- declaring tasks -------------------------------------------------------------------------


class InvalidField(DispatcherError, ValueError):
    """One field of a record (a retry policy, a rate, an envelope) is invalid."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class InvalidTaskOption(DispatcherError, ValueError):
    """A ``@app.task(...)`` option is invalid; raised at import time."""

    def __init__(self, task: str, option: str, problem: str) -> None:
        self.task, self.option, self.problem = task, option, problem
        super().__init__(f"task {task!r}: option {option!r}: {problem}")


class DuplicateTask(DispatcherError, ValueError):
    """Two tasks in one app were declared with the same name."""


# --- sending ---------------------------------------------------------------------------------


class InvalidArguments(DispatcherError, ValueError):
    """A call's arguments do not match the task's signature or type hints."""

    def __init__(self, task: str, problems: list[str]) -> None:
        self.task, self.problems = task, problems
        super().__init__(f"task {task!r}: " + "; ".join(problems))


class MessageRefused(DispatcherError):
    """A middleware refused a message: at send time ``send`` raises it; at run time the
    message is dead-lettered with this reason."""


class UnknownTask(DispatcherError, LookupError):
    """A name that no task of the app carries."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        self.name = name
        hint = f" (known: {', '.join(sorted(known))})" if known else ""
        super().__init__(f"unknown task {name!r}{hint}")


class BackendError(DispatcherError):
    """A backend could not do what was asked."""


class BatchSendError(BackendError):
    """Some messages of a batch were not accepted; ``failures`` says which and why.
    The others were sent."""

    def __init__(self, failures: list[SendFailure], total: int) -> None:
        self.failures = failures
        listed = "; ".join(f"{f.id}: {f.reason}" for f in failures[:5])
        super().__init__(f"{len(failures)} of {total} messages not sent: {listed}")


class BackendNotConfigured(BackendError):
    """The backend spec names no known backend, or its configuration is incomplete."""


class BackendUnavailable(BackendError):
    """The backend's service could not be reached."""


class QueueNotFound(BackendError):
    """The queue a task routes to does not exist on the backend."""


class Throttled(BackendError):
    """The provider refused a request for rate reasons; try again later."""


class Unsupported(BackendError):
    """The backend does not offer the operation asked of it (dead letters, queue counts...)."""


class UnknownDeadLetter(BackendError, LookupError):
    """No dead letter has that message id."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        super().__init__(f"no dead letter with id {message_id!r}")


class EnvelopeTooLarge(BackendError):
    """The encoded message is larger than the backend can carry."""


class MissingDependency(BackendError, ImportError):
    """An optional provider SDK is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with: pip install 'faas-dispatcher[{extra}]'"
        )


# --- receiving -------------------------------------------------------------------------------


class InvalidMessage(DispatcherError, ValueError):
    """A received message cannot be turned into an envelope; it is dead-lettered."""


class MalformedMessage(InvalidMessage):
    """The message body is not JSON (or not a JSON object)."""


class UnsupportedEnvelopeVersion(InvalidMessage):
    """The envelope's version is one this release cannot read."""


class NonRetryable(DispatcherError):
    """Raise (or subclass) from a task to dead-letter the message at once, without retries."""


# --- results ---------------------------------------------------------------------------------


class ResultTimeout(DispatcherError, TimeoutError):
    """``handle.result(timeout=...)`` waited that long and the task has not finished."""


class TaskFailed(DispatcherError):
    """The task finished without a value: it failed and was dead-lettered.

    ``error_type`` and ``error_message`` describe the exception the task raised remotely;
    ``reason`` is the dead-letter reason.
    """

    def __init__(
        self,
        task: str,
        task_id: str,
        error_type: str | None,
        error_message: str | None,
        reason: str | None = None,
        traceback: str | None = None,
    ) -> None:
        self.task, self.task_id = task, task_id
        self.error_type, self.error_message = error_type, error_message
        self.reason, self.remote_traceback = reason, traceback
        what = f"{error_type}: {error_message}" if error_type else (reason or "failed")
        super().__init__(f"task {task!r} ({task_id}) failed: {what}")


class TaskRevoked(TaskFailed):
    """The invocation was revoked before it ran; it never will."""

    def __init__(self, task: str, task_id: str) -> None:
        super().__init__(task, task_id, None, None, reason="revoked")


class TaskTimedOut(BaseException):
    """Raised inside a task that runs longer than its declared ``timeout``.

    A ``BaseException``, like ``KeyboardInterrupt`` (and Dramatiq's ``TimeLimitExceeded``), so
    that a task's own ``except Exception:`` cannot swallow it and run on past its time. The
    executor records it as the task's error; retry policies treat it as a ``TimeoutError``
    (the default ``retry_on=(Exception,)`` retries it, ``never_retry=(TimeoutError,)`` does not).
    """
