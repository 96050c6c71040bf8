"""The application object: a registry of tasks and the backend that carries them."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar, overload

from dispatcher import declaring
from dispatcher.backend import Backend, Outgoing, Receipt, SendFailure
from dispatcher.backends import resolve_backend
from dispatcher.errors import (
    BatchSendError,
    DuplicateTask,
    InvalidArguments,
    InvalidTaskOption,
    UnknownTask,
)
from dispatcher.middleware import Hooks, Middleware, call_after, default_middleware
from dispatcher.options import KeySource, RateLimit, build_options, option_problems
from dispatcher.retry import Retry
from dispatcher.task import AsyncTask, SyncTask, Task, TaskHandle

if TYPE_CHECKING:
    from dispatcher.backend import ResultStore

P = ParamSpec("P")
R = TypeVar("R")

BACKEND_ENV = "DISPATCHER_BACKEND"
#: The longest countdown a backend holds unless it says otherwise (``backend.max_delay``).
DEFAULT_MAX_DELAY = 365 * 86_400


class QueueSpec(NamedTuple):
    """A queue as the app's tasks use it: its name, whether it is ordered, and its tasks."""

    name: str
    ordered: bool
    tasks: tuple[str, ...]
    timeout: float


class Dispatcher:
    """An explicit application: ``app = Dispatcher("shop")``, then ``@app.task(...)``.

    ``backend`` is a :class:`~dispatcher.backend.Backend`, or a spec such as ``"local"``,
    ``"local:/var/lib/shop.db"``, ``"memory"`` or ``"aws://eu-west-1"``; without one,
    ``$DISPATCHER_BACKEND`` decides, and without that the embedded local backend. Nothing
    connects anywhere until the first send or receive.
    """

    def __init__(
        self,
        name: str,
        backend: Backend | str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
    ) -> None:
        if not name or not name.replace("-", "").isalnum() or name != name.lower():
            raise ValueError(f"app name {name!r}: use lowercase letters, digits and hyphens")
        self.name = name
        self.tasks: dict[str, Task[Any, Any]] = {}
        self._given: Backend | None = None  # a backend object handed to us
        self._made: Backend | None = None  # a backend we made from a spec
        self._backend_spec: str | None = None
        self.middleware: list[Middleware] = (
            default_middleware() if middleware is None else list(middleware)
        )
        self.hooks = Hooks(self.middleware)
        if backend is not None:
            self.use(backend)

    def __repr__(self) -> str:
        return f"<Dispatcher {self.name} tasks={len(self.tasks)} backend={self.backend_spec}>"

    # --- declaring ---------------------------------------------------------------------------

    @overload
    def task(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...

    @overload
    def task(self, fn: Callable[P, R], /) -> SyncTask[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        timeout: float | None = None,
        memory: int | None = None,
        retry: Retry | None = None,
        expires: float | None = None,
        group_by: KeySource | None = None,
        dedup_by: KeySource | None = None,
        rate_limit: str | RateLimit | None = None,
        concurrency: int | None = None,
        schedule: str | None = None,
    ) -> TaskDecorator: ...

    def task(
        self, fn: Callable[..., Any] | None = None, /, *, name: str | None = None, **options: Any
    ) -> Task[Any, Any] | TaskDecorator:
        """Declare a task. Options: ``queue``, ``timeout`` (s), ``memory`` (MB), ``retry``,
        ``expires`` (s), ``group_by`` / ``dedup_by`` (a parameter name or a function of the
        arguments), ``rate_limit`` (``"10/s"``), ``concurrency``, ``schedule`` (``"every 5
        minutes"`` or a cron line; run periodically with no arguments). Invalid options raise
        :class:`~dispatcher.errors.InvalidTaskOption` here, at import time."""
        decorator = TaskDecorator(self, name, options)
        return decorator(fn) if fn is not None else decorator

    def _register(
        self, function: Callable[..., Any], name: str | None, options: dict[str, Any]
    ) -> Task[Any, Any]:
        qualname = function.__qualname__.replace(".<locals>", "")
        task_name = name or f"{_module_name(function.__module__)}.{qualname}"
        collector = declaring.current()
        if collector is None:
            return self._declare(function, task_name, options)
        # The CLI is loading the app: record every problem and let the import go on.
        parameters = list(inspect.signature(function).parameters)
        problems = [str(p) for p in option_problems(task_name, parameters, **options)]
        bad_retry = collector.retries.pop(id(options.get("retry")), None)
        if bad_retry is not None:
            problems.append(str(InvalidTaskOption(task_name, "retry", str(bad_retry))))
        if not problems:
            try:
                return self._declare(function, task_name, options)
            except InvalidTaskOption as error:
                problems.append(str(error))
        collector.problems += problems
        return function  # type: ignore[return-value]  # the app will not be used

    def _declare(
        self, function: Callable[..., Any], task_name: str, options: dict[str, Any]
    ) -> Task[Any, Any]:
        if task_name in self.tasks:
            raise DuplicateTask(f"app {self.name!r} already has a task named {task_name!r}")
        parameters = inspect.signature(function).parameters
        built = build_options(task_name, list(parameters), **options)
        kind = AsyncTask if inspect.iscoroutinefunction(function) else SyncTask
        declared: Task[Any, Any] = kind(self, function, built)
        self._check_queue(declared)
        required = [
            p.name
            for p in parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if built.schedule and required:
            raise InvalidTaskOption(
                task_name,
                "schedule",
                f"a periodic task runs without arguments, but {', '.join(required)} has no default",
            )
        self.tasks[task_name] = declared
        return declared

    def _check_queue(self, task: Task[Any, Any]) -> None:
        for other in self.tasks.values():
            if (
                other.options.queue == task.options.queue
                and other.options.ordered != task.options.ordered
            ):
                ordered, plain = (task, other) if task.options.ordered else (other, task)
                raise InvalidTaskOption(
                    task.name,
                    "group_by",
                    f"queue {task.options.queue!r} would be ordered for {ordered.name!r} "
                    f"but not for {plain.name!r}; give ordered tasks their own queue",
                )

    def add_middleware(self, middleware: Middleware, *, index: int | None = None) -> None:
        """Add ``middleware`` at the end of the list (or at ``index``)."""
        if index is None:
            self.middleware.append(middleware)
        else:
            self.middleware.insert(index, middleware)
        self.hooks = Hooks(self.middleware)

    @property
    def queues(self) -> dict[str, QueueSpec]:
        """Every queue the app's tasks use, by name."""
        names: dict[str, list[Task[Any, Any]]] = {}
        for task in self.tasks.values():
            names.setdefault(task.options.queue, []).append(task)
        return {
            queue: QueueSpec(
                name=queue,
                ordered=tasks[0].options.ordered,
                tasks=tuple(t.name for t in tasks),
                timeout=max(t.options.timeout for t in tasks),
            )
            for queue, tasks in sorted(names.items())
        }

    def get_task(self, name: str) -> Task[Any, Any]:
        """The task called ``name``; :class:`UnknownTask` if there is none."""
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTask(name, list(self.tasks)) from None

    # --- the backend -------------------------------------------------------------------------

    @property
    def backend_spec(self) -> str:
        """The spec the backend is (or will be) made from."""
        return self._backend_spec or os.environ.get(BACKEND_ENV) or "local"

    @property
    def backend(self) -> Backend:
        """The backend, created on first use."""
        if self._given is not None:
            return self._given
        if self._made is None:
            self._made = resolve_backend(self.backend_spec, self)
        return self._made

    @property
    def results(self) -> ResultStore:
        """The backend's result store."""
        return self.backend.results

    def use(self, backend: Backend | str) -> None:
        """Switch backends (closing the current one); handy in tests and scripts."""
        self.close()
        self._given = None if isinstance(backend, str) else backend
        self._backend_spec = backend if isinstance(backend, str) else None

    def close(self) -> None:
        """Close the backend's connections. A backend made from a spec is made again on next
        use; one given as an object stays (it reconnects when used again)."""
        for backend in (self._given, self._made):
            if backend is not None:
                backend.close()
        self._made = None

    # --- sending -----------------------------------------------------------------------------

    def send(self, task_name: str, *args: Any, **kwargs: Any) -> TaskHandle[Any]:
        """Send a task by name (for producers that do not import the function's module)."""
        return self.get_task(task_name).send(args=args, kwargs=kwargs)

    def _check_delay(self, task: Task[Any, Any], message: Outgoing) -> None:
        """Refuse a delay no backend of this kind can hold, naming its limit."""
        if not message.delay:
            return
        limit = getattr(self.backend, "max_delay", None) or DEFAULT_MAX_DELAY
        if message.delay > limit:
            raise InvalidArguments(
                task.name,
                [
                    f"a delay of {message.delay / 86_400:,.1f} days is beyond the "
                    f"{limit / 86_400:g}-day limit of the {self.backend_spec!r} backend"
                ],
            )

    def handle(self, task_id: str, task_name: str | None = None) -> TaskHandle[Any]:
        """A handle for an invocation sent earlier, by id."""
        return TaskHandle(self, self.tasks.get(task_name) if task_name else None, task_id)

    def send_message(self, task: Task[Any, R], message: Outgoing) -> TaskHandle[R]:
        """Hand one built message to the backend."""
        self._check_delay(task, message)
        receipt = self.backend.send(message)
        if self.hooks.after_send:
            call_after(self.hooks.after_send, self, message.envelope, receipt)
        return TaskHandle(self, task, receipt.duplicate_of or receipt.id, receipt)

    def send_messages(
        self, task: Task[Any, R], messages: Sequence[Outgoing]
    ) -> list[TaskHandle[R]]:
        """Hand a batch to the backend; raise if any message was not accepted."""
        for message in messages:
            self._check_delay(task, message)
        outcomes = self.backend.send_many(messages) if messages else []
        failures = [o for o in outcomes if isinstance(o, SendFailure)]
        if failures:
            raise BatchSendError(failures, len(messages))
        receipts = [o for o in outcomes if isinstance(o, Receipt)]
        if self.hooks.after_send:
            for message, receipt in zip(messages, receipts, strict=True):
                call_after(self.hooks.after_send, self, message.envelope, receipt)
        return [TaskHandle(self, task, r.duplicate_of or r.id, r) for r in receipts]


def _module_name(module: str) -> str:
    """The importable name of ``module``: a script run as ``python shop.py`` is ``__main__``
    to itself but ``shop`` to the worker that imports it, and task names must agree."""
    if module != "__main__":
        return module
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    path = getattr(main, "__file__", None)
    return os.path.splitext(os.path.basename(path))[0] if path else module


class TaskDecorator:
    """What ``@app.task(...)`` with options returns: apply it to a function."""

    def __init__(self, app: Dispatcher, name: str | None, options: dict[str, Any]) -> None:
        self.app, self.name, self.options = app, name, options

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> SyncTask[P, R]: ...

    def __call__(self, fn: Callable[..., Any], /) -> Task[Any, Any]:
        return self.app._register(fn, self.name, self.options)
