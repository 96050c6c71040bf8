"""Middleware: hooks the core calls around sending and around running, as in Dramatiq.

Subclass :class:`Middleware` and override the hooks you need; give the app an ordered list
(``Dispatcher("shop", middleware=[...])`` or ``app.add_middleware(...)``). ``before_*`` hooks run
in list order, every other hook in reverse order, so the first middleware wraps the rest.

==================  ==========================================================================
``before_send``     a call is about to be sent: change the :class:`Draft` (headers, trace
                    context, keys); raise :class:`~dispatcher.errors.MessageRefused` (or any
                    error) to refuse it, and the caller's ``send`` raises it
``after_send``      the backend accepted the message
``before_run``      a received message is about to run (it is decoded, due, claimed and its
                    arguments are valid); raise ``MessageRefused`` to dead-letter it instead
                    (cause ``REFUSED``); any other error counts as the task failing
``after_run``       the task ran; ``outcome`` says what happens next
``on_retry``        the message will be delivered again (``outcome.cause`` says why)
``on_dead_letter``  the message goes to the dead letters (``envelope`` is ``None`` when the
                    body was not an envelope)
==================  ==========================================================================

Hooks after the fact (``after_*``, ``on_*``) cannot undo it: their errors are logged (logger
``dispatcher.middleware``) and the outcome stands. Only hooks a middleware overrides are called,
so a middleware costs nothing where it does nothing (a Lambda cold start included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dispatcher import context, tracing
from dispatcher.records import fields_repr

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.backend import DeadLetter, Outcome, Receipt, RetryLater
    from dispatcher.envelope import Envelope
    from dispatcher.task import Task

HOOKS = ("before_send", "after_send", "before_run", "after_run", "on_retry", "on_dead_letter")


class Draft:
    """A call on its way to becoming an envelope; ``before_send`` hooks may change it. The
    envelope is built (and checked) once, after every hook ran."""

    FIELDS = (
        "task",
        "queue",
        "args",
        "kwargs",
        "eta",
        "expires_at",
        "dedup_key",
        "group_key",
        "headers",
        "traceparent",
        "parent_id",
        "root_id",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        *,
        task: str,
        queue: str,
        args: list[Any],
        kwargs: dict[str, Any],
        eta: datetime | None,
        expires_at: datetime | None,
        dedup_key: str | None,
        group_key: str | None,
        headers: dict[str, str] | None = None,
        traceparent: str | None = None,
        parent_id: str | None = None,
        root_id: str | None = None,
    ) -> None:
        self.task = task
        self.queue = queue
        self.args = args
        self.kwargs = kwargs
        self.eta = eta
        self.expires_at = expires_at
        self.dedup_key = dedup_key
        self.group_key = group_key
        self.headers = {} if headers is None else headers
        self.traceparent = traceparent
        self.parent_id = parent_id
        self.root_id = root_id

    def __repr__(self) -> str:
        return fields_repr(self, self.FIELDS)


class Middleware:
    """Base class: every hook does nothing. Override the ones you need."""

    def before_send(self, app: Dispatcher, draft: Draft) -> None:
        """A call is about to be sent."""

    def after_send(self, app: Dispatcher, envelope: Envelope, receipt: Receipt) -> None:
        """The backend accepted ``envelope``."""

    def before_run(
        self, app: Dispatcher, task: Task[Any, Any], envelope: Envelope, attempt: int
    ) -> None:
        """``envelope`` is about to run ``task`` on ``attempt`` (``dispatcher.current()`` is
        not set yet)."""

    def after_run(
        self,
        app: Dispatcher,
        task: Task[Any, Any],
        envelope: Envelope,
        attempt: int,
        outcome: Outcome,
        seconds: float,
    ) -> None:
        """``task`` ran for ``seconds`` on ``attempt``; ``outcome`` says what happens next."""

    def on_retry(self, app: Dispatcher, envelope: Envelope, outcome: RetryLater) -> None:
        """``envelope`` will be delivered again after ``outcome.delay`` seconds."""

    def on_dead_letter(
        self, app: Dispatcher, envelope: Envelope | None, outcome: DeadLetter
    ) -> None:
        """The message goes to the dead letters with ``outcome.reason``."""


class Hooks:
    """The bound hooks of an ordered middleware list, only those that do something."""

    def __init__(self, middleware: Sequence[Middleware]) -> None:
        def bound(name: str) -> list[Callable[..., Any]]:
            found = [
                getattr(m, name)
                for m in middleware
                if getattr(type(m), name) is not getattr(Middleware, name)
            ]
            return found if name.startswith("before_") else found[::-1]

        self.before_send = bound("before_send")
        self.after_send = bound("after_send")
        self.before_run = bound("before_run")
        self.after_run = bound("after_run")
        self.on_retry = bound("on_retry")
        self.on_dead_letter = bound("on_dead_letter")


def call_after(hooks: list[Callable[..., Any]], *args: Any) -> None:
    """Call hooks after the fact; an error is logged and the rest still run."""
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            import logging

            logging.getLogger("dispatcher.middleware").exception(
                "middleware hook %s failed", getattr(hook, "__qualname__", hook)
            )


class TraceContext(Middleware):
    """W3C trace context: each sent message gets a new span of the running task's trace, or
    starts a new trace. On by default."""

    def before_send(self, app: Dispatcher, draft: Draft) -> None:
        if draft.traceparent is None:
            parent = context.current()
            draft.traceparent = tracing.new_span(parent.traceparent if parent else None)


class StructuredLogging(Middleware):
    """One JSON log record per run, retry and dead letter (logger ``dispatcher.tasks``), for
    log shippers: task, id, attempt, outcome, cause, seconds, reason."""

    def __init__(self, logger_name: str = "dispatcher.tasks") -> None:
        self.logger_name = logger_name

    def _log(self, level: int, record: dict[str, Any]) -> None:
        import json
        import logging

        logging.getLogger(self.logger_name).log(level, json.dumps(record, default=str))

    def after_run(
        self,
        app: Dispatcher,
        task: Task[Any, Any],
        envelope: Envelope,
        attempt: int,
        outcome: Outcome,
        seconds: float,
    ) -> None:
        import logging

        record: dict[str, Any] = {
            "event": "run",
            "task": task.name,
            "id": envelope.id,
            "attempt": attempt,
            "outcome": outcome.kind,
            "seconds": round(seconds, 6),
        }
        if outcome.kind != "ack":
            record["cause"] = outcome.cause.value
            record["reason"] = outcome.reason
        self._log(logging.INFO if outcome.kind == "ack" else logging.WARNING, record)

    def on_dead_letter(
        self, app: Dispatcher, envelope: Envelope | None, outcome: DeadLetter
    ) -> None:
        import logging

        self._log(
            logging.ERROR,
            {
                "event": "dead_letter",
                "task": outcome.task,
                "id": envelope.id if envelope else None,
                "attempt": outcome.attempt,
                "cause": outcome.cause.value,
                "reason": outcome.reason,
            },
        )


def default_middleware() -> list[Middleware]:
    """What every app starts with: trace context."""
    return [TraceContext()]


__all__ = [
    "HOOKS",
    "Draft",
    "Hooks",
    "Middleware",
    "StructuredLogging",
    "TraceContext",
    "call_after",
    "default_middleware",
]
