"""Azure's names for an app's resources, with the parts :mod:`dispatcher.naming` gives them,
checked against Azure's naming rules (Azurite enforces only some of them), one clear error each.

Every name starts with the app's *prefix*: its name, then the deployment's stage when there is
one (``shop``, ``shop-dev``), as issue 12's convention has it for every provider. The stage
comes from ``DISPATCHER_STAGE`` (:data:`STAGE_ENV`; unset or empty: none), which the generated
infrastructure sets from its Terraform variable ``stage``
(:mod:`adapters.azure.deploy.terraform` prints the same names as HCL expressions, and a test
has Terraform evaluate them against these functions). Names that allow only letters and
digits (tables, storage accounts) take the prefix without its hyphens (:func:`compact`).

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

from dispatcher.errors import BackendNotConfigured

#: The suffix of the queue the Functions host (and our runtime) moves poison messages to.
POISON_SUFFIX = "-poison"
#: The parts that follow the prefix, as :mod:`dispatcher.naming` names them.
RESULTS = "results"
CLAIM_CHECKS = "claim-checks"
#: The longest queue name Azure accepts.
MAX_QUEUE_NAME = 63
#: The longest task queue name that still has a poison queue.
MAX_POISONABLE_QUEUE_NAME = MAX_QUEUE_NAME - len(POISON_SUFFIX)

#: The environment variable naming the deployment's stage (unset or empty: no stage).
STAGE_ENV = "DISPATCHER_STAGE"
#: What a stage may be: 1 to 12 lower-case letters and digits with inner hyphens (valid in every
#: name below; the Terraform variable checks the same pattern).
STAGE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$"
MAX_STAGE_LENGTH = 12

_STAGE = re.compile(STAGE_PATTERN)
_HYPHENATED = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_TABLE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


class InvalidAzureName(BackendNotConfigured, ValueError):
    """A resource name derived from the app breaks one of Azure's naming rules."""

    def __init__(self, kind: str, name: str, rule: str) -> None:
        self.kind, self.name, self.rule = kind, name, rule
        super().__init__(f"Azure {kind} name {name!r} is invalid: {rule}")


def check_stage(stage: str | None) -> str | None:
    """``stage`` if valid (``None`` or empty: no stage); :class:`InvalidAzureName` if not."""
    if not stage:
        return None
    if not _STAGE.match(stage):
        raise InvalidAzureName(
            "stage",
            stage,
            f"use 1 to {MAX_STAGE_LENGTH} lower-case letters, digits and inner hyphens "
            f"(like dev or prod-eu), in {STAGE_ENV}",
        )
    return stage


def prefix(app: str, stage: str | None = None) -> str:
    """What every name of ``app`` starts with: ``shop``, or ``shop-dev`` with a stage."""
    stage = check_stage(stage)
    return f"{app}-{stage}" if stage else app


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
    name = f"{prefix(app, stage)}-{queue}"
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
    name = compact(app, stage) + RESULTS
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
    return _hyphenated("container", f"{prefix(app, stage)}-{CLAIM_CHECKS}", 63)


def task_queue_of(app: str, queue: str, stage: str | None = None) -> str:
    """The task queue a Storage Queue of ``app`` serves: ``shop-payments`` -> ``payments``."""
    return queue.removeprefix(f"{prefix(app, stage)}-")
