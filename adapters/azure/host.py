"""The local Functions host behind ``dispatcher emulate azure``: what the Azure Functions host
does with a Python v2 function app's queue and timer triggers, on this machine, against any
storage account (Azurite). Azure Functions Core Tools cannot be installed here; this host is
ours, and follows the real host's queue listener and processor
(``QueueListener``, ``QueueProcessor`` in
https://github.com/Azure/azure-sdk-for-net/tree/main/sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Queues):

* Each queue trigger's queue is polled; when it is idle, polls back off up to
  ``maxPollingInterval``. Messages come in batches of ``batchSize``; a new batch is fetched
  while at most ``newBatchThreshold`` messages are running.
* A received message is hidden for 10 minutes (``lease``), renewed at half that while its
  function runs, as the host does; a host that dies leaves it to reappear after that.
* Text that is not base64 is moved to ``<queue>-poison`` at once (the host cannot decode it);
  so is a message whose dequeue count is already past ``maxDequeueCount``.
* The function is called with an ``azure.functions.QueueMessage`` (id, body, dequeue count,
  times, pop receipt). It returns: the message is deleted. It raises: the message is made
  visible again after ``visibilityTimeout``, or moved to the poison queue once its dequeue count
  reached ``maxDequeueCount`` (the host's own poison move carries only the message).
* Timer triggers fire on their NCRONTAB schedules (UTC).

Functions run in this process, on threads (as the Python worker runs synchronous functions).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.azure import names
from adapters.azure.clients import Clients
from adapters.azure.config import AzureConfig
from adapters.azure.encoding import NotBase64, decode
from adapters.azure.errors import NOT_FOUND, code_of, status_of, translated
from dispatcher.cron import Cron

log = logging.getLogger("dispatcher.azure.host")

#: Seconds the host hides a message it runs (renewed at half that while the function runs).
LEASE = 600.0
#: The shortest pause between polls of an idle queue.
MIN_POLL = 0.1
#: Status 400 with this code: the message was updated or deleted by someone else.
POP_RECEIPT_MISMATCH = "PopReceiptMismatch"


@dataclass(frozen=True)
class HostSettings:
    """host.json's queue settings (its defaults when absent) and the function timeout."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    function_timeout: float | None = None

    @classmethod
    def from_host_json(cls, data: Mapping[str, Any], **overrides: Any) -> HostSettings:
        """Read host.json (version 2.0); ``overrides`` win (a short polling interval for
        local runs, say)."""
        from adapters.azure.project import parse_timespan

        queues = (data.get("extensions") or {}).get("queues") or {}
        batch = int(queues.get("batchSize", cls.batch_size))
        values: dict[str, Any] = {
            "batch_size": batch,
            "new_batch_threshold": int(queues.get("newBatchThreshold", batch // 2)),
            "max_dequeue_count": int(queues.get("maxDequeueCount", cls.max_dequeue_count)),
            "visibility_timeout": parse_timespan(str(queues.get("visibilityTimeout", "00:00:00"))),
        }
        if "maxPollingInterval" in queues:
            values["max_polling_interval"] = parse_timespan(str(queues["maxPollingInterval"]))
        if data.get("functionTimeout"):
            values["function_timeout"] = parse_timespan(str(data["functionTimeout"]))
        values.update(overrides)
        if not 1 <= values["batch_size"] <= 32:
            raise ValueError(f"host.json batchSize {values['batch_size']} is not within 1-32")
        return cls(**values)


@dataclass(frozen=True)
class QueueFunction:
    """A function with a queue trigger: its name, queue, connection setting and code."""

    name: str
    queue: str
    connection: str
    call: Callable[[Any], Any]


@dataclass(frozen=True)
class TimerFunction:
    """A function with a timer trigger: its name, NCRONTAB schedule and code."""

    name: str
    schedule: str
    call: Callable[[Any], Any]


@dataclass
class HostStats:
    """What the host did, per function: runs that returned, that raised, and poison moves."""

    succeeded: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    poisoned: dict[str, int] = field(default_factory=dict)
    ticks: dict[str, int] = field(default_factory=dict)

    def add(self, counter: dict[str, int], name: str) -> None:
        """Count one event of function ``name``."""
        counter[name] = counter.get(name, 0) + 1


def load_function_app(path: Path) -> Any:
    """Import ``function_app.py`` at ``path`` and return its ``azure.functions.FunctionApp``."""
    import azure.functions as func

    name = f"function_app_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
    if len(apps) != 1:
        raise ImportError(f"{path} defines {len(apps)} FunctionApp objects, not one")
    return apps[0]


def functions_of(function_app: Any) -> list[Any]:
    """``function_app.get_functions()`` (which may be called once per app), without
    azure.functions' warning that auth levels apply to HTTP functions only."""
    root = logging.getLogger()
    quiet = _DropAuthLevelWarning()
    root.addFilter(quiet)
    try:
        return list(function_app.get_functions())
    finally:
        root.removeFilter(quiet)


def triggers(function_app: Any) -> tuple[list[QueueFunction], list[TimerFunction]]:
    """The queue and timer functions of a v2 ``FunctionApp`` (read from the same
    ``get_function_json()`` the Functions host indexes)."""
    queues, timers = [], []
    for function in functions_of(function_app):
        binding = json.loads(function.get_function_json())["bindings"][0]
        call = function.get_user_function()
        if binding["type"] == "queueTrigger":
            queues.append(
                QueueFunction(
                    function.get_function_name(),
                    binding["queueName"],
                    binding["connection"],
                    call,
                )
            )
        elif binding["type"] == "timerTrigger":
            timers.append(TimerFunction(function.get_function_name(), binding["schedule"], call))
    return queues, timers


def parse_ncrontab(schedule: str) -> Cron:
    """The cron line of a six-field NCRONTAB schedule whose seconds field is ``0`` (what
    :func:`adapters.azure.project.ncrontab` writes)."""
    seconds, _, rest = schedule.strip().partition(" ")
    if seconds != "0":
        raise ValueError(f"NCRONTAB {schedule!r}: this host fires on whole minutes (seconds 0)")
    return Cron.parse(rest)


class LocalFunctionsHost:
    """Runs the triggers of ``function_app`` against the storage account named by each
    trigger's connection setting in ``environ`` (see the module docstring)."""

    def __init__(
        self,
        function_app: Any,
        settings: HostSettings | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        lease: float = LEASE,
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        import os

        self.settings = settings or HostSettings()
        self.environ = dict(os.environ if environ is None else environ)
        self.lease, self.on_result = lease, on_result
        self.queue_functions, self.timer_functions = triggers(function_app)
        self.stats = HostStats()
        self._clients: dict[str, Clients] = {}
        self._lock = threading.Lock()

    def clients(self, connection: str) -> Clients:
        """The storage clients of connection setting ``connection``."""
        with self._lock:
            found = self._clients.get(connection)
            if found is None:
                value = self.environ.get(connection)
                if not value:
                    raise KeyError(f"connection setting {connection!r} is not in the environment")
                config = AzureConfig.from_connection_string(value)
                found = self._clients[connection] = Clients(config)
        return found

    # --- queue triggers ----------------------------------------------------------------------

    def receive(self, function: QueueFunction, count: int | None = None) -> list[Any]:
        """Receive up to ``count`` (``batchSize``) messages of the function's queue, hidden
        for the lease."""
        queue = self.clients(function.connection).queue(function.queue)
        with translated(f"receiving from Storage Queue {function.queue!r}"):
            return list(
                queue.receive_messages(
                    messages_per_page=count or self.settings.batch_size,
                    max_messages=count or self.settings.batch_size,
                    visibility_timeout=max(1, round(self.lease)),
                )
            )

    def poll(self, function: QueueFunction) -> int:
        """Receive one batch and run it (in this thread); how many messages it had."""
        messages = self.receive(function)
        for message in messages:
            self.process(function, message)
        return len(messages)

    def process(self, function: QueueFunction, message: Any) -> None:
        """Run one received message through its function and settle it as the host does."""
        from azure.functions import queue as queue_types

        make_message: Any = queue_types.QueueMessage  # the one that takes a dequeue count
        queue = self.clients(function.connection).queue(function.queue)
        text = str(message.content or "")
        try:
            body = decode(text)
        except NotBase64:
            log.warning("message %s of %s is not base64: poisoned", message.id, function.queue)
            self._poison(function, message, text)
            return
        if message.dequeue_count > self.settings.max_dequeue_count:
            self._poison(function, message, text)
            return
        lease = _Lease(queue, message, self.lease)
        trigger = make_message(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        try:
            function.call(trigger)
            succeeded = True
        except Exception:
            log.exception("function %s failed on message %s", function.name, message.id)
            succeeded = False
        finally:
            lease.stop()
        if succeeded:
            self.stats.add(self.stats.succeeded, function.name)
            _settle(lambda: queue.delete_message(message.id, lease.pop_receipt))
            self._report(function, "done")
        elif message.dequeue_count >= self.settings.max_dequeue_count:
            self.stats.add(self.stats.failed, function.name)
            self._poison(function, message, text, pop_receipt=lease.pop_receipt)
        else:
            self.stats.add(self.stats.failed, function.name)
            visibility = round(self.settings.visibility_timeout)
            _settle(
                lambda: queue.update_message(
                    message.id, lease.pop_receipt, visibility_timeout=visibility
                )
            )
            self._report(function, "failed, will retry")

    def _poison(
        self, function: QueueFunction, message: Any, text: str, pop_receipt: str | None = None
    ) -> None:
        clients = self.clients(function.connection)
        poison = names.poison_queue_name(function.queue)
        with translated(f"moving a message to Storage Queue {poison!r}"):
            poison_queue = clients.queue(poison)
            try:
                poison_queue.send_message(text)
            except Exception as error:
                if status_of(error) != NOT_FOUND:
                    raise
                poison_queue.create_queue()  # as the host's AddMessageAndCreateIfNotExists
                poison_queue.send_message(text)
        queue = clients.queue(function.queue)
        _settle(lambda: queue.delete_message(message.id, pop_receipt or message.pop_receipt))
        self.stats.add(self.stats.poisoned, function.name)
        self._report(function, "moved to the poison queue")

    def _report(self, function: QueueFunction, what: str) -> None:
        if self.on_result is not None:
            self.on_result(function.name, what)

    def serve_queue(self, function: QueueFunction, stop: threading.Event) -> None:
        """Poll the function's queue until ``stop``: batches of ``batchSize``, a new one
        while at most ``newBatchThreshold`` messages run, backing off when idle."""
        settings = self.settings
        workers = max(1, settings.batch_size + settings.new_batch_threshold)
        count = 0
        ready = threading.Condition()
        delay = MIN_POLL

        def run(message: Any) -> None:
            nonlocal count
            try:
                self.process(function, message)
            except Exception:
                log.exception("message %s of %s could not be settled", message.id, function.queue)
            finally:
                with ready:
                    count -= 1
                    ready.notify_all()

        with ThreadPoolExecutor(workers, thread_name_prefix=function.name) as pool:
            while not stop.is_set():
                with ready:
                    while count > settings.new_batch_threshold and not stop.is_set():
                        ready.wait(0.2)
                if stop.is_set():
                    break
                try:
                    messages = self.receive(function)
                except Exception as error:
                    log.warning("polling %s failed: %s", function.queue, error)
                    messages = []
                if not messages:  # idle: randomized exponential backoff, as the host's
                    stop.wait(delay)
                    delay = min(settings.max_polling_interval, delay * 2 * random.uniform(0.8, 1))
                    continue
                delay = MIN_POLL
                with ready:
                    count += len(messages)
                for message in messages:
                    pool.submit(run, message)

    # --- timer triggers ----------------------------------------------------------------------

    def tick(self, function: TimerFunction, past_due: bool = False) -> None:
        """Fire one timer function now."""
        from azure.functions.timer import TimerRequest

        try:
            function.call(TimerRequest(past_due=past_due))
            self.stats.add(self.stats.ticks, function.name)
            if self.on_result is not None:
                self.on_result(function.name, "fired")
        except Exception:
            log.exception("timer function %s failed", function.name)

    def serve_timer(
        self,
        function: TimerFunction,
        stop: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Fire the function on its schedule until ``stop``."""
        cron = parse_ncrontab(function.schedule)
        due = cron.next_after(clock())
        while not stop.is_set():
            wait = (due - clock()).total_seconds()
            if wait > 0:
                stop.wait(min(wait, 1.0))
                continue
            self.tick(function, past_due=wait < -1.0)
            due = cron.next_after(clock())

    # --- everything --------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Serve every trigger, each on its own thread, until ``stop`` is set; the functions
        running then are waited for."""
        threads = [
            threading.Thread(target=self.serve_queue, args=(f, stop), name=f.name, daemon=True)
            for f in self.queue_functions
        ] + [
            threading.Thread(target=self.serve_timer, args=(t, stop), name=t.name, daemon=True)
            for t in self.timer_functions
        ]
        for thread in threads:
            thread.start()
        try:
            while not stop.is_set() and any(t.is_alive() for t in threads):
                stop.wait(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def close(self) -> None:
        """Close the storage clients."""
        with self._lock:
            for clients in self._clients.values():
                clients.close()
            self._clients.clear()


class _DropAuthLevelWarning(logging.Filter):
    """Drops azure.functions' warning that auth levels apply to HTTP functions only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Auth level is not applied")


class _Lease:
    """Keeps a running message hidden: renews its visibility at half the lease."""

    def __init__(self, queue: Any, message: Any, lease: float) -> None:
        self.queue, self.message, self.lease = queue, message, lease
        self.pop_receipt: str = message.pop_receipt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease / 2):
            try:
                updated = self.queue.update_message(
                    self.message.id, self.pop_receipt, visibility_timeout=max(1, round(self.lease))
                )
            except Exception as error:
                log.warning("could not renew the lease of %s: %s", self.message.id, error)
                return
            self.pop_receipt = updated.pop_receipt

    def stop(self) -> None:
        """Stop renewing (the function is done)."""
        self._stop.set()
        self._thread.join()


def _settle(action: Callable[[], Any]) -> None:
    """Delete or release a message, as the host does: a message someone else took over (pop
    receipt mismatch) or that is gone is left alone."""
    try:
        action()
    except Exception as error:
        if status_of(error) == NOT_FOUND or code_of(error) == POP_RECEIPT_MISMATCH:
            return
        with translated("settling a message"):
            raise
