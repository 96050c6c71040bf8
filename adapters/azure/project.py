"""The Azure Functions project of an app: ``function_app.py`` (rendered from
``templates/azure/function_app.py.j2``) and ``host.json``, written from the Azure deploy
policy's plan (:mod:`adapters.azure.deploy.policy`), which decides every value in them (the
queue and timer functions, the queue trigger's batch, retry and poison settings, the function
timeout) once for the generated infrastructure, ``dispatcher package --provider azure``,
``dispatcher emulate azure`` and the local Functions host.

host.json's keys and formats:
https://learn.microsoft.com/en-us/azure/azure-functions/functions-host-json and
https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue#host-json
(durations are ``hh:mm:ss``, ``d.hh:mm:ss`` from a day on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.azure.config import FUNCTIONS_CONNECTION

if TYPE_CHECKING:
    from adapters.azure.deploy.records import AzurePlan
    from dispatcher.app import Dispatcher

#: The template, in ``templates/`` of the ``adapters.azure`` package (a link to the
#: repository's ``templates/azure``, shipped as package data).
TEMPLATE = "function_app.py.j2"
EXTENSION_BUNDLE = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}


def plan_for(app: Dispatcher, reference: str) -> AzurePlan:
    """The Azure plan of ``app`` (imported as ``reference``); raises
    :class:`~dispatcher.deploy.errors.UndeployableApp` listing every problem."""
    from adapters.azure.deploy.policy import POLICY
    from dispatcher.deploy.policy import plan

    return plan(app, POLICY, reference)


def host_json(plan: AzurePlan) -> dict[str, Any]:
    """host.json's content."""
    host = plan.host
    return {
        "version": "2.0",
        "functionTimeout": timespan(host.function_timeout),
        "extensionBundle": EXTENSION_BUNDLE,
        "extensions": {
            "queues": {
                "batchSize": host.batch_size,
                "newBatchThreshold": host.new_batch_threshold,
                "maxDequeueCount": host.max_dequeue_count,
                "visibilityTimeout": timespan(host.visibility_timeout),
                "messageEncoding": host.message_encoding,
            }
        },
    }


def function_app_source(plan: AzurePlan) -> str:
    """The text of ``function_app.py``."""
    from adapters.azure.deploy.records import QueueFunction, TimerFunction
    from dispatcher.deploy.text import render_template

    deployment = plan.deployment
    return render_template(
        "adapters.azure",
        TEMPLATE,
        app_name=deployment.app,
        reference=deployment.app_reference,
        connection=FUNCTIONS_CONNECTION,
        queues=plan.of_type(QueueFunction),
        timers=plan.of_type(TimerFunction),
        unserved=plan.unserved,
    )


def files(plan: AzurePlan) -> dict[str, str]:
    """``function_app.py`` and ``host.json``, by name."""
    return {
        "function_app.py": function_app_source(plan),
        "host.json": json.dumps(host_json(plan), indent=2) + "\n",
    }


def write(plan: AzurePlan, folder: Path) -> list[Path]:
    """Write ``function_app.py`` and ``host.json`` into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files(plan).items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


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
