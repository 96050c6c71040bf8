"""The Azure Functions project of an app: ``function_app.py`` (rendered from
``templates/azure/function_app.py.j2``) and ``host.json``, derived from the declarations.

Both are what the runtime and the local Functions host need; ``dispatcher package --provider
azure`` (a later round) ships them. host.json's queue settings
(https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue#host-json,
defaults and bounds from ``QueuesOptions`` in
https://github.com/Azure/azure-sdk-for-net/tree/main/sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Queues):

``batchSize`` (1-32, default 16) and ``newBatchThreshold`` (default batchSize/2 per core)
    An instance runs up to batchSize + newBatchThreshold messages at once. When a task declares
    ``concurrency``, the smallest such limit caps that sum (per instance; the instance count is
    the infrastructure's).
``maxDequeueCount`` (default 5)
    The host's own poison rule, for deliveries that end without an outcome (a crash, a
    timeout): the most attempts a task declares plus the margin the other providers use.
``visibilityTimeout`` (default 0)
    How long the host waits before it retries a function that raised: the shortest first retry
    delay any task declares (our runtime applies the full backoff itself).
``messageEncoding`` (default base64)
    Written out: the producer base64-encodes every message.
``functionTimeout``
    The longest task timeout, plus a margin for recording the result.

Timer schedules are NCRONTAB lines (``second minute hour day month day-of-week``, UTC):
https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-timer#ncrontab-expressions
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.azure import names
from adapters.azure.config import FUNCTIONS_CONNECTION
from dispatcher.cron import Cron
from dispatcher.errors import Unsupported

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.options import Schedule

#: The template, in ``templates/`` of the ``adapters.azure`` package (a link to the
#: repository's ``templates/azure``, shipped as package data).
TEMPLATE = "function_app.py.j2"
#: host.json's queue trigger bounds and defaults.
MAX_BATCH_SIZE = 32
DEFAULT_BATCH_SIZE = 16
DEFAULT_NEW_BATCH_THRESHOLD = DEFAULT_BATCH_SIZE // 2
#: Deliveries beyond a task's attempts before the host poisons a message that keeps dying
#: without an outcome: the margin the AWS policy gives SQS's redrive too.
DEQUEUE_MARGIN = 5
#: Seconds of functionTimeout past the longest task timeout (recording the result).
FUNCTION_TIMEOUT_MARGIN = 30
EXTENSION_BUNDLE = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
_FIELDS = ("minutes", "hours", "days", "months", "weekdays")
_FULL = {"minutes": 60, "hours": 24, "days": 31, "months": 12, "weekdays": 7}
_UNITS = {
    60: ("0 */{n} * * * *", 60),
    3600: ("0 0 */{n} * * *", 24),
    86_400: ("0 0 0 */{n} * *", 1),
}


@dataclass(frozen=True)
class QueueFunction:
    """A queue trigger: the function's name, its Storage Queue, its task queue and tasks."""

    name: str
    queue_name: str
    queue: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class TimerFunction:
    """A timer trigger: the function's name, its NCRONTAB schedule, the task it sends."""

    name: str
    schedule: str
    expression: str
    task: str


def queue_functions(app: Dispatcher) -> list[QueueFunction]:
    """One queue trigger per task queue that Azure can serve (see :func:`unserved`)."""
    functions = []
    for queue, spec in app.queues.items():
        if queue in unserved(app):
            continue
        name = "queue_" + _identifier(queue)
        functions.append(QueueFunction(name, names.queue_name(app.name, queue), queue, spec.tasks))
    return functions


def unserved(app: Dispatcher) -> dict[str, str]:
    """The task queues that get no function, and why: ordered queues (``group_by``), since
    Storage Queues deliver in no particular order (sending their tasks is refused too)."""
    return {
        queue: "ordered (group_by), but Azure Storage Queues deliver in no particular order"
        for queue, spec in app.queues.items()
        if spec.ordered
    }


def timer_functions(app: Dispatcher) -> list[TimerFunction]:
    """One timer trigger per scheduled task."""
    timers = []
    for task in app.tasks.values():
        schedule = task.options.schedule
        if schedule is not None:
            timers.append(
                TimerFunction(
                    "schedule_" + _identifier(task.name),
                    ncrontab(schedule, task.name),
                    schedule.expression,
                    task.name,
                )
            )
    return timers


def ncrontab(schedule: Schedule, task: str = "") -> str:
    """The NCRONTAB line of a schedule; :class:`~dispatcher.errors.Unsupported` for one it
    cannot express exactly."""
    if schedule.every_seconds is not None:
        for unit, (pattern, limit) in sorted(_UNITS.items(), reverse=True):
            count, rest = divmod(schedule.every_seconds, unit)
            if rest == 0 and count >= 1 and limit % count == 0:
                return pattern.format(n=count).replace("*/1 ", "* ")
        raise Unsupported(
            f"task {task!r}: schedule {schedule.expression!r} has no exact Azure timer "
            "(NCRONTAB): use an interval that divides an hour or a day, or a cron line"
        )
    cron = Cron.parse(schedule.expression)
    fields = [_field(getattr(cron, name), _FULL[name]) for name in _FIELDS]
    if fields[2] != "*" and fields[4] != "*":
        raise Unsupported(
            f"task {task!r}: schedule {schedule.expression!r} restricts both the day of the "
            "month and the day of the week, which cron and NCRONTAB may read differently: "
            "use one of them"
        )
    return "0 " + " ".join(fields)


def _field(values: frozenset[int], full: int) -> str:
    if len(values) >= full:
        return "*"
    ordered, runs = sorted(values), []
    start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        runs.append(str(start) if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ",".join(runs)


def host_json(app: Dispatcher) -> dict[str, Any]:
    """host.json for ``app`` (see the module docstring)."""
    tasks = list(app.tasks.values())
    limits = [t.options.concurrency for t in tasks if t.options.concurrency is not None]
    batch, threshold = DEFAULT_BATCH_SIZE, DEFAULT_NEW_BATCH_THRESHOLD
    if limits:
        batch = min(MAX_BATCH_SIZE, min(limits))
        threshold = min(limits) - batch
    attempts = max((t.options.retry.attempts for t in tasks), default=1)
    first_retry = min((t.options.retry.delay for t in tasks), default=0.0)
    timeout = max((t.options.timeout for t in tasks), default=60.0)
    return {
        "version": "2.0",
        "functionTimeout": timespan(math.ceil(timeout) + FUNCTION_TIMEOUT_MARGIN),
        "extensionBundle": EXTENSION_BUNDLE,
        "extensions": {
            "queues": {
                "batchSize": batch,
                "newBatchThreshold": threshold,
                "maxDequeueCount": attempts + DEQUEUE_MARGIN,
                "visibilityTimeout": timespan(math.ceil(first_retry)),
                "messageEncoding": "base64",
            }
        },
    }


def timespan(seconds: int) -> str:
    """``hh:mm:ss`` (``d.hh:mm:ss`` from a day on), as host.json writes durations."""
    days, rest = divmod(max(0, seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}.{text}" if days else text


def parse_timespan(text: str) -> float:
    """Seconds of a host.json duration (``hh:mm:ss`` or ``d.hh:mm:ss``)."""
    days, dot, clock = text.partition(".")
    if not dot or ":" in days:
        days, clock = "0", text
    hours, minutes, seconds = (float(part) for part in clock.split(":"))
    return int(days) * 86_400 + hours * 3600 + minutes * 60 + seconds


def function_app_source(app: Dispatcher, reference: str) -> str:
    """The text of ``function_app.py`` for ``app``, imported as ``reference``."""
    from dispatcher.deploy.text import render_template

    queues, timers = queue_functions(app), timer_functions(app)
    seen = [f.name for f in queues] + [t.name for t in timers]
    clash = sorted({n for n in seen if seen.count(n) > 1})
    if clash:
        raise Unsupported(f"two functions would be named {clash[0]!r}: rename a queue or task")
    return render_template(
        "adapters.azure",
        TEMPLATE,
        app_name=app.name,
        reference=reference,
        connection=FUNCTIONS_CONNECTION,
        queues=queues,
        timers=[t for t in timers if app.tasks[t.task].options.queue not in unserved(app)],
        unserved=unserved(app),
    )


def write(app: Dispatcher, reference: str, folder: Path) -> list[Path]:
    """Write ``function_app.py`` and ``host.json`` into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "function_app.py"
    source.write_text(function_app_source(app, reference))
    host = folder / "host.json"
    host.write_text(json.dumps(host_json(app), indent=2) + "\n")
    return [source, host]


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name).strip("_").lower() or "default"
