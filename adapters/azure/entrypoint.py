"""What the generated ``function_app.py`` calls: one queue trigger per task queue calls
:func:`run_message`, one timer trigger per scheduled task calls :func:`run_schedule`.

The app is named by the generated file (``module:attr``); it is loaded on the first call, with
its backend made from the environment (``AzureWebJobsStorage``, the connection string the
Function App and its triggers already use; see :mod:`adapters.azure.config`). Importing this
module costs almost nothing; with an account key or a managed identity (the platform's token
endpoint), the first message imports no Azure SDK (results go through
:mod:`adapters.azure.lite`) unless it needs a queue or a blob.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.azure.receiver import QueueReceiver

_receivers: dict[str, QueueReceiver] = {}
_lock = threading.Lock()


def run_message(app: str, queue: str, message: Any) -> None:
    """Run one message of task queue ``queue`` of ``app`` (``module:attr``); ``message`` is
    the trigger's ``azure.functions.QueueMessage``. Returns when the message is done with (the
    host then deletes it); raises when its outcome could not be applied (the host retries)."""
    receiver(app).handle(
        queue,
        message.get_body(),
        dequeue_count=int(message.dequeue_count or 1),
        message_id=str(message.id or ""),
    )


def run_schedule(app: str, task: str, timer: Any = None) -> None:
    """Send scheduled task ``task`` of ``app`` for this tick of its timer; the tick's minute
    makes the dedup key (``beat:<task>:<minute>``, as the local beat's), so a tick delivered
    twice sends once."""
    runner = receiver(app)
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    runner.app.get_task(task).send(dedup_key=f"beat:{task}:{minute.isoformat()}")


def queue_name(app_name: str, queue: str) -> str:
    """The Storage Queue of task queue ``queue`` of the app called ``app_name`` in this
    deployment's stage (``DISPATCHER_STAGE``): what the generated ``function_app.py`` binds
    each queue trigger to, when the Functions worker indexes it."""
    from adapters.azure import names

    stage = os.environ.get(names.STAGE_ENV, "").strip() or None
    return names.queue_name(app_name, queue, stage)


def receiver(app: str) -> QueueReceiver:
    """The receiver of ``app``, made on first use (once per process)."""
    found = _receivers.get(app)
    if found is None:
        with _lock:
            found = _receivers.get(app)
            if found is None:
                found = _receivers[app] = _build(app)
    return found


def _build(reference: str) -> QueueReceiver:
    from adapters.azure import names
    from adapters.azure.config import AzureConfig
    from adapters.azure.lite import LiteEntities
    from adapters.azure.producer import AzureBackend
    from adapters.azure.receiver import QueueReceiver
    from dispatcher.loading import load_app

    # Pydantic looks for plugins in every installed distribution's metadata when the first
    # model is built (a cold start's worth of file reads); set it to "" to keep plugins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app = load_app(reference)
    spec = app.backend_spec if app.backend_spec.startswith("azure") else "azure"
    config = AzureConfig.from_spec(spec)
    # With an account key, or the platform's managed identity endpoint (no key: what the
    # generated infrastructure makes), results go through the small client: the SDK's
    # imports would dominate a cold start (see adapters.azure.lite).
    tokens = None
    if not config.key:
        from adapters.azure.identity import ManagedIdentityTokens

        tokens = ManagedIdentityTokens.from_environment(config.client_id)
    table = names.table_name(app.name, config.stage)
    entities = LiteEntities(config, table, tokens) if config.key or tokens else None
    backend = AzureBackend(app, config, entities=entities)
    app.use(backend)
    return QueueReceiver(app, backend)


def reset() -> None:
    """Forget the receivers made so far, closing their backends (tests, hosts that reload)."""
    with _lock:
        receivers = list(_receivers.values())
        _receivers.clear()
    for each in receivers:
        each.app.close()
