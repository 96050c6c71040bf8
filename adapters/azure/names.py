"""Azure's names for an app's resources, derived from :mod:`dispatcher.naming` and checked
against Azure's naming rules (Azurite enforces only some of them), one clear error each.

Rules relied on:

* Queues: 3-63 characters, lower-case letters, digits and single hyphens, starting and ending
  with a letter or digit.
  https://learn.microsoft.com/en-us/rest/api/storageservices/naming-queues-and-metadata
* Poison queues: the Functions host moves a message it gives up on to ``<queue>-poison``, and
  only when that name is itself valid (so a queue name may have at most 56 characters).
  https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages
  and ``QueueListenerFactory.CreatePoisonQueueReference`` in
  https://github.com/Azure/azure-sdk-for-net/tree/main/sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Queues
* Tables: 3-63 characters, letters and digits only, starting with a letter.
  https://learn.microsoft.com/en-us/rest/api/storageservices/understanding-the-table-service-data-model#table-names
* Blob containers: 3-63 characters, lower-case letters, digits and single hyphens, starting and
  ending with a letter or digit.
  https://learn.microsoft.com/en-us/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata#container-names
"""

from __future__ import annotations

import re

from dispatcher import naming
from dispatcher.errors import BackendNotConfigured

#: The suffix of the queue the Functions host (and our runtime) moves poison messages to.
POISON_SUFFIX = "-poison"
#: The longest queue name Azure accepts.
MAX_QUEUE_NAME = 63
#: The longest task queue name that still has a poison queue.
MAX_POISONABLE_QUEUE_NAME = MAX_QUEUE_NAME - len(POISON_SUFFIX)

_HYPHENATED = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_TABLE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


class InvalidAzureName(BackendNotConfigured, ValueError):
    """A resource name derived from the app breaks one of Azure's naming rules."""

    def __init__(self, kind: str, name: str, rule: str) -> None:
        self.kind, self.name, self.rule = kind, name, rule
        super().__init__(f"Azure {kind} name {name!r} is invalid: {rule}")


def _hyphenated(kind: str, name: str, longest: int) -> str:
    if not 3 <= len(name) <= longest:
        raise InvalidAzureName(kind, name, f"it must have 3 to {longest} characters")
    if not _HYPHENATED.match(name):
        raise InvalidAzureName(
            kind,
            name,
            "use lower-case letters, digits and single hyphens, starting and ending with a "
            "letter or digit",
        )
    return name


def queue_name(app: str, queue: str) -> str:
    """The Storage Queue of task queue ``queue``: ``shop-payments`` (at most 56 characters,
    so that its poison queue's name is valid too)."""
    name = naming.queue_name(app, queue)
    if len(name) > MAX_POISONABLE_QUEUE_NAME:
        raise InvalidAzureName(
            "queue",
            name,
            f"it must have at most {MAX_POISONABLE_QUEUE_NAME} characters, so that "
            f"{name + POISON_SUFFIX!r} is a valid poison queue name",
        )
    return _hyphenated("queue", name, MAX_POISONABLE_QUEUE_NAME)


def poison_queue_name(queue: str) -> str:
    """The poison queue of Storage Queue ``queue``: ``shop-payments-poison``."""
    return queue + POISON_SUFFIX


def source_of_poison_queue(poison: str) -> str:
    """``shop-payments-poison`` -> ``shop-payments``."""
    return poison.removesuffix(POISON_SUFFIX)


def table_name(app: str) -> str:
    """The results table: :func:`dispatcher.naming.results_table_name` without its hyphens
    (``shopresults``), since table names are letters and digits only."""
    name = naming.results_table_name(app).replace("-", "")
    if not _TABLE.match(name):
        raise InvalidAzureName(
            "table",
            name,
            "it must have 3 to 63 letters and digits and start with a letter "
            "(an app name starting with a digit cannot have a table)",
        )
    return name


def container_name(app: str) -> str:
    """The claim-check container: ``shop-claim-checks``."""
    return _hyphenated("container", naming.claim_check_bucket_name(app), 63)


def task_queue_of(app: str, queue: str) -> str:
    """The task queue a Storage Queue of ``app`` serves: ``shop-payments`` -> ``payments``."""
    return queue.removeprefix(f"{app}-")
