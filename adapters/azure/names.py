"""Azure's names for an app's resources, built by :mod:`dispatcher.naming` (the convention every
provider follows) and checked against Azure's naming rules (Azurite enforces only some of
them), one clear error each.

Every name starts with the app's *prefix*: its name, then the deployment's stage when there is
one (``shop``, ``shop-dev``). The stage comes from ``DISPATCHER_STAGE``
(:data:`dispatcher.naming.STAGE_ENV`; unset or empty: none), which the generated infrastructure
sets from its Terraform variable ``stage`` (:mod:`adapters.azure.deploy.terraform` prints the
same names as HCL expressions, and a test has Terraform evaluate them against these
functions). Names that allow only letters and digits (tables, storage accounts) take the
prefix without its hyphens (:func:`compact`); the storage account and the Function App, whose
names are global, are the writer's (cut and hashed).

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
#: The parts that follow the prefix, as :mod:`dispatcher.naming` names them.
RESULTS = naming.results_table("").part
CLAIM_CHECKS = naming.claim_check_bucket("").part
#: The longest queue name Azure accepts.
MAX_QUEUE_NAME = 63
#: The longest task queue name that still has a poison queue.
MAX_POISONABLE_QUEUE_NAME = MAX_QUEUE_NAME - len(POISON_SUFFIX)

#: The stage: as :mod:`dispatcher.naming` reads and checks it.
STAGE_ENV = naming.STAGE_ENV
STAGE_PATTERN = naming.STAGE_PATTERN
MAX_STAGE_LENGTH = naming.MAX_STAGE_LENGTH

_HYPHENATED = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_TABLE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


class InvalidAzureName(BackendNotConfigured, ValueError):
    """A resource name derived from the app breaks one of Azure's naming rules."""

    def __init__(self, kind: str, name: str, rule: str) -> None:
        self.kind, self.name, self.rule = kind, name, rule
        super().__init__(f"Azure {kind} name {name!r} is invalid: {rule}")


def check_stage(stage: str | None) -> str | None:
    """``stage`` if valid (``None`` or empty: no stage); :class:`dispatcher.naming.InvalidStage`
    if not."""
    return naming.check_stage(stage)


def prefix(app: str, stage: str | None = None) -> str:
    """What every name of ``app`` starts with: ``shop``, or ``shop-dev`` with a stage."""
    return naming.prefix(app, stage)


def compact(app: str, stage: str | None = None) -> str:
    """The prefix without its hyphens, for names of letters and digits only: ``shopdev``."""
    return prefix(app, stage).replace("-", "")


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


def queue_name(app: str, queue: str, stage: str | None = None) -> str:
    """The Storage Queue of task queue ``queue``: ``shop-payments``, ``shop-dev-payments``
    (at most 56 characters, so that its poison queue's name is valid too)."""
    name = naming.queue_name(app, queue, stage=stage)
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


def table_name(app: str, stage: str | None = None) -> str:
    """The results table: :func:`dispatcher.naming.results_table_name` without its hyphens
    (``shopresults``, ``shopdevresults``), since table names are letters and digits only."""
    name = naming.results_table_name(app, stage=stage).replace("-", "")
    if not _TABLE.match(name):
        raise InvalidAzureName(
            "table",
            name,
            "it must have 3 to 63 letters and digits and start with a letter "
            "(an app name starting with a digit cannot have a table)",
        )
    return name


def container_name(app: str, stage: str | None = None) -> str:
    """The claim-check container: ``shop-claim-checks``, ``shop-dev-claim-checks``."""
    return _hyphenated("container", naming.claim_check_bucket_name(app, stage=stage), 63)


def task_queue_of(app: str, queue: str, stage: str | None = None) -> str:
    """The task queue a Storage Queue of ``app`` serves: ``shop-payments`` -> ``payments``."""
    return queue.removeprefix(f"{prefix(app, stage)}-")
