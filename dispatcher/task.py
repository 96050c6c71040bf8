"""A declared task: call it in-process, or send it to its queue and get a handle."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypedDict, TypeVar, Unpack

from dispatcher import context
from dispatcher.backend import Outgoing, Receipt, Status, TaskResult
from dispatcher.envelope import Envelope, new_id, utcnow
from dispatcher.errors import (
    InvalidArguments,
    InvalidField,
    ResultTimeout,
    TaskFailed,
    TaskRevoked,
)
from dispatcher.middleware import Draft
from dispatcher.options import KeySource, TaskOptions
from dispatcher.signature import Signature

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

P = ParamSpec("P")
R = TypeVar("R")


class SendOptions(TypedDict, total=False):
    """Per-call options of :meth:`Task.send`."""

    countdown: float | None  # run after this many seconds...
    eta: datetime | None  # ...or at this (timezone-aware) time
    expires: float | datetime | None  # dead-letter unless run within seconds, or by a time
    dedup_key: str | None  # overrides the declared dedup_by
    group_key: str | None  # overrides the declared group_by
    headers: Mapping[str, str] | None  # free-form metadata carried in the envelope


class Task(Generic[P, R]):
    """What ``@app.task`` returns (a :class:`SyncTask` or an :class:`AsyncTask`). Calling it
    runs the function here and now; :meth:`delay` and :meth:`send` validate the call and put it
    on the task's queue. ``R`` is the type of the result."""

    def __init__(self, app: Dispatcher, fn: Callable[P, Any], options: TaskOptions) -> None:
        self.app, self.fn, self.options = app, fn, options
        self.name = options.name
        self.signature = Signature(options.name, fn)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue}>"

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]:
        """Send with these arguments and default options."""
        return self.send(args=args, kwargs=kwargs)

    def send(
        self,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Unpack[SendOptions],
    ) -> TaskHandle[R]:
        """Send with per-call options (see :class:`SendOptions`)."""
        return self.app.send_message(self, self.message(args, kwargs, **options))

    def map(self, calls: Iterable[Iterable[Any] | Mapping[str, Any]]) -> list[TaskHandle[R]]:
        """Send one message per item (a tuple of args or a dict of kwargs) in batches."""
        messages = [
            self.message(kwargs=call) if isinstance(call, Mapping) else self.message(call)
            for call in calls
        ]
        return self.app.send_messages(self, messages)

    def message(
        self,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Unpack[SendOptions],
    ) -> Outgoing:
        """Validate a call and build its message without sending it."""
        countdown, eta = options.get("countdown"), options.get("eta")
        dedup_key, group_key = options.get("dedup_key"), options.get("group_key")
        now = utcnow()
        call_args, call_kwargs = self.signature.dump(tuple(args), dict(kwargs or {}))
        if countdown is not None and eta is not None:
            raise InvalidArguments(self.name, ["give countdown or eta, not both"])
        if countdown is not None:
            if countdown < 0:
                raise InvalidArguments(self.name, [f"countdown must be >= 0 (got {countdown})"])
            eta = now + timedelta(seconds=countdown)
        if eta is not None and eta.tzinfo is None:
            raise InvalidArguments(self.name, ["eta must be timezone-aware"])
        expires = options.get("expires")
        expires = self.options.expires if expires is None else expires
        expires_at = (
            now + timedelta(seconds=expires) if isinstance(expires, int | float) else expires
        )
        dedup_key = dedup_key or self._key(self.options.dedup_by, call_args, call_kwargs)
        group_key = group_key or self._key(self.options.group_by, call_args, call_kwargs)
        parent = context.current()
        draft = Draft(
            task=self.name,
            queue=self.options.queue,
            args=call_args,
            kwargs=call_kwargs,
            eta=eta,
            expires_at=expires_at,
            dedup_key=dedup_key,
            group_key=group_key,
            headers=dict(options.get("headers") or {}),
            parent_id=parent.id if parent else None,
            root_id=parent.root_id if parent else None,
        )
        for hook in self.app.hooks.before_send:
            hook(self.app, draft)
        try:
            envelope = Envelope(
                id=new_id(),
                task=self.name,
                args=draft.args,
                kwargs=draft.kwargs,
                created_at=now,
                eta=draft.eta,
                expires_at=draft.expires_at,
                dedup_key=draft.dedup_key,
                group_key=draft.group_key,
                traceparent=draft.traceparent,
                parent_id=draft.parent_id,
                root_id=draft.root_id,
                headers=draft.headers,
            )
        except InvalidField as error:  # a header, key or time given with the call
            raise InvalidArguments(self.name, [str(error)]) from None
        try:
            body = envelope.encode()
        except ValueError as error:  # NaN or infinity: not JSON
            raise InvalidArguments(self.name, [f"arguments are not JSON: {error}"]) from None
        eta = envelope.eta
        delay = max(0.0, (eta - now).total_seconds()) if eta else 0.0
        return Outgoing(
            envelope,
            body,
            draft.queue,
            delay,
            ordered=self.options.ordered,
            timeout=self.options.timeout,
        )

    def _key(self, source: KeySource | None, args: list[Any], kwargs: dict[str, Any]) -> str | None:
        if source is None:
            return None
        bound = self.signature.inspected.bind(*args, **kwargs)
        bound.apply_defaults()
        value = bound.arguments[source] if isinstance(source, str) else source(*args, **kwargs)
        return None if value is None else str(value)


class SyncTask(Task[P, R]):
    """A task declared on a plain function."""

    fn: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)


class AsyncTask(Task[P, R]):
    """A task declared on an ``async def`` function; calling it returns the coroutine."""

    fn: Callable[P, Coroutine[Any, Any, R]]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        return self.fn(*args, **kwargs)


class TaskHandle(Generic[R]):
    """A sent invocation: its id, its status, and (when it finishes) its result."""

    def __init__(
        self,
        app: Dispatcher,
        task: Task[Any, R] | None,
        task_id: str,
        receipt: Receipt | None = None,
    ) -> None:
        self.app, self.task, self.id = app, task, task_id
        #: The backend's receipt when this handle comes from a send (``receipt.duplicate_of``
        #: says the message was dropped as a duplicate of that earlier one, which ``id`` is).
        self.receipt = receipt

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task.name if self.task else '?'} {self.id}>"

    def status(self) -> TaskResult | None:
        """The stored record, or ``None`` while nothing has been recorded (a method: it asks
        the backend each time)."""
        return self.app.backend.results.get(self.id)

    def revoke(self) -> None:
        """Make sure this invocation never runs (one already running is not interrupted):
        its result then says ``revoked`` and :meth:`result` raises ``TaskRevoked``."""
        from dispatcher.errors import Unsupported
        from dispatcher.operations import QueueControl

        backend = self.app.backend
        if not isinstance(backend, QueueControl):
            raise Unsupported(f"the {self.app.backend_spec!r} backend cannot revoke messages")
        record = self.status()
        name = record.task if record else (self.task.name if self.task else "?")
        backend.revoke(self.id, name)

    def result(self, timeout: float | None = None, poll: float = 0.02) -> R:
        """Wait for the task to finish and return its value.

        Raises :class:`TaskFailed` if it was dead-lettered and :class:`ResultTimeout` if it has
        not finished within ``timeout`` seconds (``None`` waits forever).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll
        while True:
            record = self.status()
            if record is not None and record.status is Status.SUCCEEDED:
                task = self.task or self.app.tasks.get(record.task)
                value: R = task.signature.load_result(record.value) if task else record.value
                return value
            if record is not None and record.status is Status.REVOKED:
                raise TaskRevoked(record.task, self.id)
            if record is not None and record.status is Status.FAILED:
                raise TaskFailed(
                    record.task,
                    self.id,
                    record.error_type,
                    record.error_message,
                    reason=record.reason,
                    traceback=record.traceback,
                )
            if deadline is not None and time.monotonic() >= deadline:
                state = record.status.value if record else Status.PENDING.value
                raise ResultTimeout(f"task {self.id} is still {state} after {timeout}s")
            wait = interval if deadline is None else min(interval, deadline - time.monotonic())
            time.sleep(max(0.0, wait))
            interval = min(interval * 1.5, 0.5)
